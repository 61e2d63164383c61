/**
 * `--encoder` through the command, the server and the library (issue #26): an ONNX encoder's
 * features indexed, then searched, evaluated and served by commands that find the encoder from the
 * index; another encoder refused; a missing encoder named; explain's answer for features only; the
 * note a bundled model prints on real tissue. The real MobileNetV2 from ../shared where present.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { loadModel, openIndex } from '../../src/api/library.js';
import { createServer } from '../../src/server/serve.js';
import { histoseek, ROOT, temporaryFolder } from '../helpers.js';
import { floatModel, WIDTHS } from '../onnx-encoder-models.js';
import { multipart } from '../server-fixtures.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 600_000;

const MOBILENET = join(ROOT, '../shared/models/mobilenetv2-12-int8.onnx');
const KATHER = join(ROOT, '../shared/data/kather2016-samples');
const CLASSES = ['red', 'green', 'blue'];
/** The test encoder's side: its input's size is symbolic, so each command is told (here, by the sidecar). */
const SIDE = 64;

/** A folder collection of plain-coloured noisy tiles, four per class (not synthetic histology). */
async function tiles(dir: string, folder = 'tiles', classes = CLASSES): Promise<string> {
  const root = join(dir, folder);
  for (const [c, name] of classes.entries()) {
    await mkdir(join(root, name), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const pixels = Buffer.alloc(48 * 48 * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = (p % 3 === c ? 160 : 40) + ((p * 7 + i * 31) % 50);
      await sharp(pixels, { raw: { width: 48, height: 48, channels: 3 } })
        .png()
        .toFile(join(root, name, `${name}-${i}.png`));
    }
  }
  return root;
}

/** The small float encoder of the ONNX encoder tests, with a sidecar giving its input size. */
function encoderFile(dir: string, name = 'encoder.onnx', seedTail: 'classifier' | 'reshape-1' = 'classifier'): string {
  const path = join(dir, name);
  writeFileSync(path, floatModel({ tail: seedTail }));
  writeFileSync(path.replace(/\.onnx$/, '.json'), JSON.stringify({ size: SIDE }));
  return path;
}

test(
  'an ONNX encoder: index, search, eval and serve find it by themselves; another model is refused, a missing one named',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-encoder-', t);
    const root = await tiles(dir);
    const encoder = encoderFile(dir);
    const db = join(dir, 'db');

    const indexed = histoseek('index', root, '--db', db, '--encoder', encoder, '--json');
    assert.equal(indexed.status, 0, indexed.stderr);
    assert.equal(JSON.parse(indexed.stdout).added, 12);
    assert.doesNotMatch(indexed.stderr, /built-in models are for the demo/, 'no demo note with a real encoder');

    const query = join(root, 'green', 'green-2.png');
    const searched = histoseek('search', query, '--db', db, '-k', '3', '--json');
    assert.equal(searched.status, 0, searched.stderr);
    const results = JSON.parse(searched.stdout).results as { path: string; distance: number; label: string }[];
    assert.equal(results[0].path, query);
    assert.ok(results[0].distance < 1e-4, `distance to itself ${results[0].distance}`);

    const evaluated = histoseek('eval', '--db', db, '--leave-one-out', '--json');
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const metrics = JSON.parse(evaluated.stdout) as Record<string, number>;
    assert.ok(metrics.eta_p >= 0 && metrics.eta_p <= 1, `eta_p ${metrics.eta_p}`);

    // The descriptor is the encoder's last feature map, averaged: as wide as its last convolution.
    const info = histoseek('embed', query, '--encoder', encoder, '--out', join(dir, 'one.safetensors'));
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stderr, new RegExp(`1 descriptors of ${WIDTHS.at(-1)} values`));

    const refused = histoseek('search', query, '--db', db, '--encoder', encoderFile(dir, 'other.onnx', 'reshape-1'));
    assert.notEqual(refused.status, 0);
    assert.match(
      refused.stderr,
      /this index was built with model '.*encoder\.onnx \(features\)'.*pass --encoder .*encoder\.onnx/,
    );
    const defaultModel = histoseek('index', root, '--db', db);
    assert.notEqual(defaultModel.status, 0);
    assert.match(defaultModel.stderr, /pass --encoder .*encoder\.onnx/);

    const app = await createServer({ db, webRoot: dir, limits: { rate: null } });
    try {
      const r = await app.inject({
        method: 'POST',
        url: '/api/search?k=2',
        ...multipart(readFileSync(query), { filename: 'green-2.png' }),
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().results[0].path, query);
    } finally {
      await app.close();
    }

    renameSync(encoder, join(dir, 'moved.onnx'));
    const missing = histoseek('search', query, '--db', db);
    assert.notEqual(missing.status, 0);
    assert.match(
      missing.stderr,
      /built with the encoder .*encoder\.onnx, which is not there any more; pass --encoder FILE/,
    );
    writeFileSync(join(dir, 'moved.json'), JSON.stringify({ size: SIDE }));
    const moved = histoseek('search', query, '--db', db, '--encoder', join(dir, 'moved.onnx'), '--json');
    assert.equal(moved.status, 0, moved.stderr);
    assert.equal(JSON.parse(moved.stdout).results[0].path, query);
  },
);

test(
  'the library takes an encoder: loadModel embeds with it, openIndex finds it from the index',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-encoder-lib-', t);
    const root = await tiles(dir);
    const encoder = encoderFile(dir);
    const db = join(dir, 'db');
    const model = await loadModel(undefined, { encoder });
    const query = join(root, 'red', 'red-1.png');
    const one = await model.embed([query]);
    assert.equal(model.dim, WIDTHS.at(-1));
    assert.equal(model.inputSize, SIDE);
    assert.equal(model.identity.encoder, encoder);
    await model.close();

    const indexed = histoseek('index', root, '--db', db, '--encoder', encoder);
    assert.equal(indexed.status, 0, indexed.stderr);
    const index = await openIndex(db);
    try {
      const added = await index.add(await tiles(dir, 'more', ['cyan', 'grey']), { layout: 'folder' });
      assert.equal(added.added, 8, 'embedded with the encoder the index recorded');
    } finally {
      await index.close();
    }
    const reopened = await openIndex(db, { encoder });
    try {
      const byImage = await reopened.search(query, { k: 1 });
      const byVector = await reopened.search(one, { k: 1 });
      assert.equal(byImage[0].path, query);
      assert.deepEqual(byVector, byImage, 'the descriptor loadModel gave finds what the image finds');
    } finally {
      await reopened.close();
    }
  },
);

test(
  'explain on an encoder that gives features only says what it supports instead',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-encoder-explain-', t);
    const root = await tiles(dir);
    const r = histoseek(
      'explain',
      join(root, 'red', 'red-0.png'),
      '--encoder',
      encoderFile(dir),
      '--out',
      join(dir, 'x'),
    );
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /gives features only.*supports index, search, eval, serve, embed and map.*train a neck over it/,
    );
    assert.equal(existsSync(join(dir, 'x')), false, 'nothing written');
  },
);

test(
  'a bundled model indexing a collection that is not synthetic prints one note naming a real encoder',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-encoder-note-', t);
    const root = await tiles(dir);
    const r = histoseek('index', root, '--db', join(dir, 'db'));
    assert.equal(r.status, 0, r.stderr);
    const notes = r.stderr.match(/built-in models are for the demo/g) ?? [];
    assert.equal(notes.length, 1, r.stderr);
    assert.match(r.stderr, /histoseek weights pull \S+', then index with '--encoder \S+'/);
    const synthetic = join(dir, 'synth');
    const made = histoseek('synth', '--out', synthetic, '--patches', '2');
    assert.equal(made.status, 0, made.stderr);
    const quiet = histoseek('index', synthetic, '--db', join(dir, 'db2'));
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /built-in models are for the demo/);
  },
);

test(
  'MobileNetV2 from ../shared: index, search, eval and serve on the real Kather tiles with --encoder',
  {
    timeout: TIMEOUT,
    skip:
      existsSync(MOBILENET) && existsSync(KATHER) ? false : `${MOBILENET} or ${KATHER} is absent (shared test data)`,
  },
  async (t) => {
    const dir = await temporaryFolder('histoseek-mobilenet-', t);
    const db = join(dir, 'db');
    const indexed = histoseek('index', KATHER, '--db', db, '--encoder', MOBILENET, '--json');
    assert.equal(indexed.status, 0, indexed.stderr);
    assert.equal(JSON.parse(indexed.stdout).added, 24);
    const tile = join(KATHER, '04_LYMPHO', '1BA_CRC-Prim-HE-04_031.tif_Row_1_Col_451.tif');
    const searched = histoseek('search', tile, '--db', db, '-k', '2', '--json');
    assert.equal(searched.status, 0, searched.stderr);
    const results = JSON.parse(searched.stdout).results as { path: string; distance: number }[];
    assert.equal(results[0].path, tile);
    assert.ok(results[0].distance < 1e-3, `distance to itself ${results[0].distance}`);
    const evaluated = histoseek('eval', '--db', db, '--leave-one-out', '--json');
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const metrics = JSON.parse(evaluated.stdout) as Record<string, number>;
    // Leave-one-slide-out over 24 tiles of 8 classes: chance is 1/8 per tile.
    assert.ok(
      metrics.eta_p > 0.125,
      `MobileNetV2's nearest tile has the query's class for ${metrics.eta_p} of queries`,
    );
    const app = await createServer({ db, webRoot: dir, limits: { rate: null } });
    try {
      const r = await app.inject({
        method: 'POST',
        url: '/api/search?k=1',
        ...multipart(readFileSync(tile), { filename: 'tile.tif', type: 'image/tiff' }),
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().results[0].path, tile);
    } finally {
      await app.close();
    }
  },
);
