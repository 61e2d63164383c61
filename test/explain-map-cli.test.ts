import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import { histoseek, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const dir = await temporaryFolder('histoseek-explain-');
const collection = join(dir, 'collection');
await writeKimiaCollection(collection, {
  seed: 4,
  slides: 3,
  slideSize: 512,
  patchSize: 128,
  trainPerSlide: 6,
  testPerSlide: 2,
});

test('explain writes both sides of a match as overlays and one page grid', { timeout: TIMEOUT }, async () => {
  const query = join(collection, 'test', 's1', (await readdir(join(collection, 'test', 's1')))[0]);
  const result = join(collection, 'train', 's1', (await readdir(join(collection, 'train', 's1')))[0]);
  const out = join(dir, 'explain');
  const r = histoseek('explain', query, result, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const files = await readdir(out);
  for (const side of ['query', 'result']) {
    assert.ok(files.includes(`${side}-combined.png`));
    assert.ok(files.includes(`${side}-L0.P1.png`));
  }
  const grid = await sharp(join(out, 'grid.png')).metadata();
  assert.ok(grid.width! > 800 && grid.height! > 400, `${grid.width}×${grid.height}`);
  const one = histoseek('explain', query, '--out', join(dir, 'one'), '--layer', '0', '--node', '2');
  assert.equal(one.status, 0, one.stderr);
  assert.deepEqual((await readdir(join(dir, 'one'))).sort(), [
    'grid.png',
    'query-L0.P2.png',
    'query-L0.png',
    'query-combined.png',
  ]);
  const bad = histoseek('explain', query, '--out', join(dir, 'bad'), '--node', '7');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--node must be 1…4/);
});

test('map draws the index as a PNG with a legend, the same for the same seed', { timeout: TIMEOUT }, async () => {
  const db = join(dir, 'db');
  assert.equal(histoseek('index', collection, '--layout', 'kimia', '--db', db).status, 0);
  const [a, b] = [join(dir, 'a.png'), join(dir, 'b.png')];
  for (const out of [a, b]) {
    const r = histoseek('map', '--db', db, '--out', out, '--method', 'pca', '--seed', '3');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /18 points, silhouette by label -?\d\.\d{3}/);
  }
  assert.ok(existsSync(a));
  const [pa, pb] = [await sharp(a).raw().toBuffer(), await sharp(b).raw().toBuffer()];
  assert.ok(pa.equals(pb), 'deterministic');
});
