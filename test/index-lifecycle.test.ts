import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import { IndexStore } from '../src/index/store.js';
import { histoseek, temporaryFolder } from './helpers.js';

function ok(...args: string[]) {
  const r = histoseek(...args);
  assert.equal(r.status, 0, `histoseek ${args.join(' ')}\n${r.stderr}`);
  return r;
}

const dir = await temporaryFolder('histoseek-life-');
const collection = join(dir, 'collection');
await writeKimiaCollection(collection, { seed: 3, slides: 4, slideSize: 512, patchSize: 96, trainPerSlide: 5, testPerSlide: 2 });
const db = join(dir, 'db');
ok('index', collection, '--db', db, '--layout', 'kimia', '--batch', '8');

function liveSlides(): Map<string, number> {
  const store = IndexStore.open(db);
  const counts = new Map<string, number>();
  for (const item of store.allItems()) counts.set(item.slide!, (counts.get(item.slide!) ?? 0) + 1);
  store.close();
  return counts;
}

test('search excludes a slide on request; two-stage search answers like the exact scan', async () => {
  const query = join(collection, 'test', 's1', (await readdir(join(collection, 'test', 's1')))[0]);
  const all = JSON.parse(ok('search', query, '--db', db, '-k', '20', '--json').stdout);
  assert.ok(all.results.some((r: { slide: string }) => r.slide === 's1'));
  const without = JSON.parse(ok('search', query, '--db', db, '-k', '20', '--json', '--exclude-slide', 's1').stdout);
  assert.equal(without.results.length, 15);
  assert.ok(without.results.every((r: { slide: string }) => r.slide !== 's1'));

  // 20 items search exactly by default; forced through the graph, the 20 re-ranked candidates are the same list.
  const twoStage = JSON.parse(ok('search', query, '--db', db, '-k', '20', '--json', '--two-stage').stdout);
  assert.deepEqual(twoStage.results.map((r: { path: string }) => r.path), all.results.map((r: { path: string }) => r.path));
  const both = histoseek('search', query, '--db', db, '--two-stage', '--exact');
  assert.match(both.stderr, /give --exact or --two-stage, not both/);
  const exact = JSON.parse(ok('search', query, '--db', db, '-k', '20', '--json', '--exact').stdout);
  assert.deepEqual(exact.results, all.results);
});

test('eval: official protocol on the test tree, and leave-one-slide-out over the index', () => {
  const official = JSON.parse(ok('eval', '--db', db, '--queries', collection, '--layout', 'kimia', '--json', '--report', join(dir, 'report')).stdout);
  assert.equal(official.n_queries, 8);
  for (const key of ['eta_p', 'eta_w', 'eta_w_precision', 'eta_tot', 'recall_at_1', 'recall_at_5', 'map_at_10', 'mv_at_5']) {
    assert.ok(official[key] >= 0 && official[key] <= 1, key);
  }
  assert.ok(Math.abs(official.eta_tot - official.eta_p * official.eta_w) < 1e-12);
  assert.ok(existsSync(join(dir, 'report', 'confusion.png')));
  // Leave-one-slide-out where label = slide: no same-label item remains, so nothing can be right.
  const loo = JSON.parse(ok('eval', '--db', db, '--leave-one-out', '--json', '--report', join(dir, 'loo')).stdout);
  assert.equal(loo.n_queries, 20);
  assert.equal(loo.eta_p, 0);
});

test('removing a slide or a folder removes its items; indexing again restores them; appending adds', async () => {
  assert.deepEqual([...liveSlides().values()], [5, 5, 5, 5]);
  assert.match(ok('index', '--db', db, '--remove-slide', 's2').stderr, /removed 5 items/);
  assert.equal(liveSlides().has('s2'), false);
  const removal = ok('index', '--db', db, '--remove', join(collection, 'train', 's3'), '--json');
  assert.match(removal.stderr, /removed 5 items/);
  assert.deepEqual(JSON.parse(removal.stdout), { removed: 5 });
  assert.equal(liveSlides().has('s3'), false);
  const again = ok('index', collection, '--db', db, '--layout', 'kimia');
  assert.match(again.stderr, /10 added, 10 already indexed/);
  assert.deepEqual([...liveSlides().values()], [5, 5, 5, 5]);
  const other = join(dir, 'other');
  await writeKimiaCollection(other, { seed: 4, slides: 1, slideSize: 512, patchSize: 96, trainPerSlide: 3, testPerSlide: 1 });
  const appended = ok('index', other, '--db', db, '--layout', 'kimia', '--json');
  assert.match(appended.stderr, /3 added, 0 already indexed, 0 unreadable \(skipped\); 23 items in the index/);
  assert.deepEqual(JSON.parse(appended.stdout), { added: 3, skipped: 0, failures: [], slides_without_patches: [], items: 23 });
});
