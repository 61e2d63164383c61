import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import { DEFAULT_MODEL_PATH, loadCheckpoint, randomModel, saveCheckpoint } from '../src/model/checkpoint.js';
import { embeddingSize } from '../src/model/config.js';
import { histoseek, startHistoseek, temporaryFolder, untilWhileRunning } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const DIM = embeddingSize((await loadCheckpoint(DEFAULT_MODEL_PATH)).config);

/** A folder-layout collection: `classes` sub-folders of `perClass` distinct small images. */
async function makeCollection(dir: string, classes: number, perClass: number): Promise<string[]> {
  const files: string[] = [];
  for (let c = 0; c < classes; c++) {
    await mkdir(join(dir, `class${c}`, 'nested'), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const data = Buffer.alloc(48 * 48 * 3);
      for (let p = 0; p < data.length; p++) data[p] = (p * (c + 3) + i * 31 + ((p * 7) % (i + 5)) * 13) % 256;
      const file = join(dir, `class${c}`, i % 2 ? 'nested' : '', `img${i}.png`);
      await sharp(data, { raw: { width: 48, height: 48, channels: 3 } })
        .png()
        .toFile(file);
      files.push(file);
    }
  }
  return files;
}

function snapshot(db: string) {
  const store = FolderIndex.open(db);
  try {
    const items = store.allItems();
    const rows = items.map((item) => item.row);
    return {
      items: items.map(({ row, source, label }) => ({ row, source, label })),
      vectors: store.vectors(rows),
      raw: store.rawVectors(rows),
    };
  } finally {
    store.close();
  }
}

test('an index killed with SIGKILL mid-run and rerun equals an uninterrupted one', { timeout: TIMEOUT }, async (t) => {
  const dir = await temporaryFolder('histoseek-index-', t);
  const collection = join(dir, 'collection');
  await makeCollection(collection, 3, 40);
  const whole = join(dir, 'whole');
  assert.equal(histoseek('index', collection, '--db', whole, '--batch', '4').status, 0);

  const resumed = join(dir, 'resumed');
  const run = startHistoseek('index', collection, '--db', resumed, '--batch', '4');
  // Kill once a few batches are on disk, but well before the 120 images are done.
  await untilWhileRunning(
    run,
    async () => ((await stat(join(resumed, 'vectors.f16')).catch(() => null))?.size ?? 0) >= 2 * 4 * DIM * 2,
    'two batches were stored',
  );
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL');
  const partial = snapshot(resumed).items.length;
  assert.ok(partial > 0 && partial < 120, `killed mid-run with ${partial} items stored`);

  const rerun = histoseek('index', collection, '--db', resumed, '--batch', '4');
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.match(rerun.stderr, new RegExp(`${120 - partial} added, ${partial} already indexed`));
  const a = snapshot(whole);
  const b = snapshot(resumed);
  assert.deepEqual(b.items, a.items);
  assert.equal(b.vectors.length, a.vectors.length);
  // Stored at float16 (the default): a run-to-run difference of the embedding can move a value by one step (2⁻¹¹ relative).
  for (let i = 0; i < a.vectors.length; i++)
    assert.ok(
      Math.abs(a.vectors[i] - b.vectors[i]) <= 1e-3 * Math.max(Math.abs(a.vectors[i]), 1e-2),
      `vector value ${i}`,
    );
  for (let i = 0; i < a.raw.length; i++)
    assert.ok(Math.abs(a.raw[i] - b.raw[i]) <= 1e-3 * Math.max(Math.abs(a.raw[i]), 1e-2), `raw value ${i}`);
});

test(
  'unreadable images in a collection are reported and skipped; the rest is indexed',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-index-', t);
    const collection = join(dir, 'collection');
    await makeCollection(collection, 2, 3);
    await writeFile(join(collection, 'class0', 'broken.png'), 'not an image');
    const r = histoseek('index', collection, '--db', join(dir, 'db'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /broken\.png: not a readable image/);
    assert.match(r.stderr, /6 added, 0 already indexed, 1 unreadable/);
    const store = FolderIndex.open(join(dir, 'db'));
    assert.equal(store.allItems().length, 6);
    assert.match(store.failures()[0].source, /broken\.png$/);
    store.close();
  },
);

test(
  'missing folder, empty collection, another model, corrupt database: clear errors, nothing lost',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-index-', t);
    let r = histoseek('index', join(dir, 'nowhere'), '--db', join(dir, 'db'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /nowhere: no such folder/);
    assert.equal(existsSync(join(dir, 'db')), false, 'a mistyped folder leaves no index behind');

    await mkdir(join(dir, 'empty', 'class0'), { recursive: true });
    r = histoseek('index', join(dir, 'empty'), '--db', join(dir, 'db'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /empty: no images found for layout 'folder'/);

    const collection = join(dir, 'collection');
    await makeCollection(collection, 2, 2);
    const db = join(dir, 'db');
    assert.equal(histoseek('index', collection, '--db', db).status, 0);
    const before = await readFile(join(db, 'vectors.f16'));

    const other = join(dir, 'other.safetensors');
    await saveCheckpoint(
      other,
      randomModel({ preset: 'test', neckChannels: 8, neckLayers: 1, gemP: 4.6, inputSize: 64 }, 3),
    );
    r = histoseek('index', collection, '--db', db, '--weights', other);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /this index was built with model 'histoseek default model.*not '.*other\.safetensors'/);
    assert.deepEqual(await readFile(join(db, 'vectors.f16')), before);

    const sqlite = join(db, 'histoseek.sqlite');
    const original = await readFile(sqlite);
    const corrupt = Buffer.from(original);
    corrupt.write('garbage garbage garbage', 0);
    await writeFile(sqlite, corrupt);
    r = histoseek('index', collection, '--db', db);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /histoseek\.sqlite: cannot be read as a histoseek index/);
    assert.deepEqual(await readFile(sqlite), corrupt, 'the damaged file is left as it was');
    assert.deepEqual(await readFile(join(db, 'vectors.f16')), before);
  },
);
