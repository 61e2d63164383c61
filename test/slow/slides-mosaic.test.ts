import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeKimiaCollection } from '../../src/data/synthetic/index.js';
import { FolderIndex } from '../../src/store/folder/folder-index.js';
import { mosaic } from '../../src/wsi/mosaic.js';
import { slidePatchItems } from '../../src/collections/slide-items.js';
import { histoseek, temporaryFolder } from '../helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const dir = await temporaryFolder('histoseek-mosaic-');
// Four small slides without adipose (too pale to count as tissue): some twenty tissue patches each.
await writeKimiaCollection(join(dir, 'synthetic'), {
  seed: 9,
  slides: 4,
  slideSize: 1024,
  patchSize: 128,
  trainPerSlide: 1,
  testPerSlide: 1,
  classes: ['tumour', 'stroma', 'lymphocytes', 'mucosa'],
});
const slides = join(dir, 'synthetic', 'slides');

function indexSlides(db: string, ...extra: string[]) {
  const r = histoseek('index', slides, '--layout', 'slides', '--db', db, '--batch', '8', ...extra);
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

function storedItems(db: string) {
  const store = FolderIndex.open(db);
  try {
    return store.allItems();
  } finally {
    store.close();
  }
}

function perSlide(items: { slide?: string | null }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item.slide!, (counts.get(item.slide!) ?? 0) + 1);
  return counts;
}

const allDb = join(dir, 'all');
const allStderr = indexSlides(allDb);
const all = storedItems(allDb);
const allBySource = new Map(all.map((i) => [i.source, i]));

test(
  'mosaic with a target keeps that many of a slide’s patches, all of them when it has no more, the same ones every time',
  { timeout: TIMEOUT },
  async () => {
    const path = join(slides, 's0.tiff');
    const patches = await slidePatchItems(path, null);
    assert.ok(patches.length > 12, `s0 has ${patches.length} tissue patches`);
    for (const target of [3, 5, 12]) {
      const chosen = await mosaic(path, patches, { target });
      assert.equal(chosen.length, target, `mosaic of ${target}`);
      assert.ok(chosen.every((c) => patches.includes(c)));
      assert.deepEqual(
        (await mosaic(path, patches, { target })).map((c) => c.source),
        chosen.map((c) => c.source),
        'seeded: the same patches again',
      );
    }
    assert.deepEqual(await mosaic(path, patches, { target: patches.length }), patches);
  },
);

test(
  'index --patches mosaic:N stores N patches per slide, each one of the all-patches items, and a rerun adds nothing',
  { timeout: TIMEOUT },
  () => {
    const db = join(dir, 'mosaic-4');
    const stderr = indexSlides(db, '--patches', 'mosaic:4');
    const items = storedItems(db);
    const counts = perSlide(items);
    const allCounts = perSlide(all);
    assert.deepEqual([...counts.keys()].sort(), ['s0', 's1', 's2', 's3']);
    // Every slide has more than four tissue patches, so each keeps exactly four.
    for (const [slide, n] of counts)
      assert.ok(n === 4 && allCounts.get(slide)! > 4, `${slide}: ${n} of ${allCounts.get(slide)} patches`);
    for (const item of items) {
      const same = allBySource.get(item.source);
      assert.ok(same, `${item.source} is one of the all-patches items`);
      assert.deepEqual(
        [item.x, item.y, item.width, item.height, item.label],
        [same.x, same.y, same.width, same.height, same.label],
      );
    }
    assert.match(
      stderr,
      new RegExp(
        `${items.length} added, 0 already indexed.*; 4 slides: ${(items.length / 4).toFixed(1)} patches per slide \\(min ${Math.min(...counts.values())}, max ${Math.max(...counts.values())}\\), \\d+\\.\\d\\d s per slide`,
      ),
    );
    assert.match(stderr, /on disk, [\d.]+ KiB per slide \(4 slides in the index\)/);

    const again = histoseek('index', slides, '--layout', 'slides', '--db', db, '--patches', 'mosaic:4');
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`0 added, ${items.length} already indexed`));
    assert.equal(storedItems(db).length, items.length, 'no duplicates');
  },
);

test(
  'index --patches mosaic stores each slide’s mosaic as whole-slide search picks it: fewer patches than all',
  { timeout: TIMEOUT },
  async () => {
    const db = join(dir, 'mosaic');
    indexSlides(db, '--patches', 'mosaic');
    const items = storedItems(db);
    for (const slide of ['s0', 's1', 's2', 's3']) {
      const path = join(slides, `${slide}.tiff`);
      const expected = await mosaic(path, await slidePatchItems(path, null));
      assert.deepEqual(
        items
          .filter((i) => i.slide === slide)
          .map((i) => i.source)
          .sort(),
        expected.map((e) => e.source).sort(),
        slide,
      );
    }
    // Small slides: at least one patch per colour cluster (nine) keeps more than the default 15 %.
    assert.ok(items.length < all.length, `${items.length} of ${all.length} patches`);
  },
);

test('--patches all is the default and reports the slides', { timeout: TIMEOUT }, () => {
  const counts = [...perSlide(all).values()];
  assert.ok(
    counts.every((n) => n > 5),
    `every slide has tissue patches: ${counts.join(', ')}`,
  );
  assert.match(
    allStderr,
    new RegExp(
      `; 4 slides: ${(all.length / 4).toFixed(1)} patches per slide \\(min ${Math.min(...counts)}, max ${Math.max(...counts)}\\)`,
    ),
  );
  const explicit = histoseek('index', slides, '--layout', 'slides', '--db', allDb, '--patches', 'all');
  assert.match(explicit.stderr, new RegExp(`0 added, ${all.length} already indexed`));
});

test(
  'a --patches value other than all, mosaic or mosaic:N, or --patches with another layout, is an error naming it',
  { timeout: TIMEOUT },
  () => {
    for (const bad of ['some', 'Mosaic', 'mosaic:', 'mosaic:0', 'mosaic:-3', 'mosaic:2.5', 'mosaic:1e3', 'all:4']) {
      const r = histoseek('index', slides, '--layout', 'slides', '--db', join(dir, 'bad'), '--patches', bad);
      assert.equal(r.status, 1, bad);
      assert.match(
        r.stderr,
        new RegExp(
          `--patches must be all, mosaic or mosaic:N with N a positive integer \\(patches per slide\\), got '${bad}'`,
        ),
      );
    }
    const folder = histoseek('index', slides, '--db', join(dir, 'bad'), '--patches', 'mosaic');
    assert.equal(folder.status, 1);
    assert.match(folder.stderr, /--patches applies to --layout slides .*got --layout folder/);
  },
);
