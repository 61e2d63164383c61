import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { normalizeInto } from '../src/data/image.js';
import { renderPatch, TISSUE_CLASSES } from '../src/data/synthetic/index.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { DEFAULT_MODEL_PATH, loadCheckpoint } from '../src/model/checkpoint.js';
import type { Model } from '../src/model/types.js';
import type { HostTensor } from '../src/model/host-tensor.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { FIXTURE_IO, FIXTURE_WEIGHTS, histoseek, temporaryFolder, rowCosines } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

async function bothPrecisions(model: Model, input: HostTensor): Promise<[HostTensor, HostTensor]> {
  const out: HostTensor[] = [];
  for (const precision of ['fp32', 'int8'] as const) {
    const embedder = await OnnxEmbedder.create({ ...model, precision }, { threads: 1 });
    out.push(await embedder.embed(input));
    await embedder.release();
  }
  return [out[0], out[1]];
}

/** Synthetic patches of every class at seeds the calibration never saw. */
function unseenPatches(size: number): HostTensor {
  const n = TISSUE_CLASSES.length * 2;
  const data = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < n; i++)
    normalizeInto(
      renderPatch(TISSUE_CLASSES[i % TISSUE_CLASSES.length], size, 7000 + i),
      size,
      data,
      i * 3 * size * size,
    );
  return { shape: [n, 3, size, size], data };
}

test(
  'int8: the built-in model on unseen synthetic patches keeps every descriptor within cosine 0.99 of fp32',
  { timeout: TIMEOUT },
  async (t) => {
    const model = await loadCheckpoint(DEFAULT_MODEL_PATH);
    const [fp32, int8] = await bothPrecisions(model, unseenPatches(model.config.inputSize));
    const cosines = rowCosines(fp32, int8);
    t.diagnostic(`lowest cosine ${Math.min(...cosines).toFixed(4)}`);
    assert.equal(cosines.length, 12);
    assert.ok(Math.min(...cosines) >= 0.99, `cosines ${cosines.map((c) => c.toFixed(4)).join(' ')}`);
    assert.ok(Math.min(...cosines) < 1 - 1e-6, 'int8 differs from fp32: the quantised graph ran');
  },
);

test(
  'int8: the fixture model on the fixture input keeps every descriptor within cosine 0.999 of fp32',
  { timeout: TIMEOUT },
  async (t) => {
    const model = await loadCheckpoint(FIXTURE_WEIGHTS);
    const input = (await readSafetensors(FIXTURE_IO)).tensors.get('input')!;
    const [fp32, int8] = await bothPrecisions(model, input);
    const cosines = rowCosines(fp32, int8);
    t.diagnostic(`lowest cosine ${Math.min(...cosines).toFixed(4)}`);
    assert.ok(Math.min(...cosines) >= 0.999, `cosines ${cosines.map((c) => c.toFixed(4)).join(' ')}`);
  },
);

test(
  'int8 index: queried at its own precision by default; --precision fp32 gets a clear error naming the fix',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-int8-', t);
    const collection = join(dir, 'collection');
    const files: string[] = [];
    for (const [c, cls] of TISSUE_CLASSES.slice(0, 3).entries()) {
      await mkdir(join(collection, cls), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const file = join(collection, cls, `p${i}.png`);
        await sharp(renderPatch(cls, 128, 50 + 10 * c + i), { raw: { width: 128, height: 128, channels: 3 } })
          .png()
          .toFile(file);
        files.push(file);
      }
    }
    const db = join(dir, 'db');
    const indexed = histoseek('index', collection, '--db', db, '--precision', 'int8');
    assert.equal(indexed.status, 0, indexed.stderr);
    assert.match(indexed.stderr, /9 added/);

    const found = histoseek('search', files[4], '--db', db, '-k', '3', '--json');
    assert.equal(found.status, 0, found.stderr);
    const results = (JSON.parse(found.stdout) as { results: { path: string; distance: number }[] }).results;
    assert.equal(results[0].path, files[4]);
    assert.ok(results[0].distance < 1e-3, `an indexed image finds itself, distance ${results[0].distance}`);

    const refused = histoseek('search', files[4], '--db', db, '--precision', 'fp32');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /built with model 'histoseek default model.* int8'.*; pass --precision int8/);

    const appended = histoseek('index', collection, '--db', db);
    assert.equal(appended.status, 1, 'appending at fp32 to an int8 index is refused');
    assert.match(appended.stderr, /pass --precision int8/);

    const wrong = histoseek('search', files[4], '--db', db, '--precision', 'int4');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /--precision must be fp32 or int8, got 'int4'/);
  },
);
