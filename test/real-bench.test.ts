/** bench:real's protocol (folds, spread, pooled figures) and colour histogram; one run on the real Kather tiles where ../shared is present. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { missingShared, readKather2016, specimenOf } from '../bench/real-data.js';
import { HISTOGRAM_BINS, histogramOfFile, histogramRows, rgbHistogram } from '../bench/real-histogram.js';
import { groupFolds, REAL_METRICS, scoreFolds, spread, summarise } from '../bench/real-protocol.js';
import { ROOT, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual}, expected ${expected}`);

test(
  'groupFolds: one fold per group; its tiles are the queries, no tile of it is in the index, every tile is queried once',
  { timeout: TIMEOUT },
  () => {
    const groups = ['s10', 's2', 's2', 's1', 's10', 's2'];
    const folds = groupFolds(groups);
    assert.deepEqual(
      folds.map((f) => f.held),
      ['s1', 's2', 's10'],
    );
    assert.deepEqual(
      folds.map((f) => f.queries),
      [[3], [1, 2, 5], [0, 4]],
    );
    for (const fold of folds) {
      assert.ok(fold.queries.every((i) => groups[i] === fold.held));
      assert.ok(fold.index.every((i) => groups[i] !== fold.held));
      assert.deepEqual([...fold.queries, ...fold.index].sort(), [0, 1, 2, 3, 4, 5]);
    }
    assert.deepEqual(folds.flatMap((f) => f.queries).sort(), [0, 1, 2, 3, 4, 5]);
  },
);

test(
  'specimenOf: the CRC-Prim-HE-NN specimen of a source image; anything else is an error naming it',
  { timeout: TIMEOUT },
  () => {
    assert.equal(specimenOf('CRC-Prim-HE-07_022'), 'CRC-Prim-HE-07');
    assert.equal(specimenOf('CRC-Prim-HE-02_copy'), 'CRC-Prim-HE-02');
    assert.equal(specimenOf('CRC-Prim-HE-10'), 'CRC-Prim-HE-10');
    assert.throws(() => specimenOf('slide-3'), /'slide-3' does not name a CRC-Prim-HE-NN specimen/);
  },
);

test('missingShared: names each absent path, null when all are present', { timeout: TIMEOUT }, () => {
  assert.equal(missingShared([ROOT]), null);
  assert.match(missingShared([ROOT, '/nonexistent/shared/data']) ?? '', /^absent: \/nonexistent\/shared\/data \(/);
});

test('rgbHistogram: joint bins of 32 levels, L2-normalised', { timeout: TIMEOUT }, () => {
  // Two red pixels, one black, one (40, 100, 200): bins (7,0,0) = 448, (0,0,0) = 0 and (1,3,6) = 94.
  const h = rgbHistogram(new Uint8Array([255, 0, 0, 0, 0, 0, 40, 100, 200, 255, 0, 0]));
  assert.equal(h.length, HISTOGRAM_BINS ** 3);
  close(h[448], 2 / Math.sqrt(6), 'red');
  close(h[0], 1 / Math.sqrt(6), 'black');
  close(h[94], 1 / Math.sqrt(6), '(40, 100, 200)');
  close(
    h.reduce((s, v) => s + v, 0),
    4 / Math.sqrt(6),
    'nothing else',
  );
  // Bin edges: 31 and 32 fall in bins 0 and 1.
  const edge = rgbHistogram(new Uint8Array([31, 31, 31, 32, 32, 32]));
  close(edge[0], Math.SQRT1_2, 'bin (0,0,0)');
  close(edge[(1 * 8 + 1) * 8 + 1], Math.SQRT1_2, 'bin (1,1,1)');
  assert.throws(() => rgbHistogram(new Uint8Array(4)), /4 bytes is not a whole number of RGB pixels/);
});

test('histogramOfFile: a file decoded at its own size, alpha over white', { timeout: TIMEOUT }, async (t) => {
  const dir = await temporaryFolder('histoseek-real-bench-', t);
  // 20×20: the top half opaque blue, the bottom half transparent (white once flattened).
  const pixels = new Uint8Array(20 * 20 * 4);
  for (let i = 0; i < 20 * 20; i++) pixels.set(i < 200 ? [0, 0, 255, 255] : [0, 0, 0, 0], i * 4);
  const file = join(dir, 'half.png');
  await sharp(pixels, { raw: { width: 20, height: 20, channels: 4 } })
    .png()
    .toFile(file);
  const h = await histogramOfFile(file);
  close(h[7], Math.SQRT1_2, 'blue (0,0,7)');
  close(h[511], Math.SQRT1_2, 'white (7,7,7)');
  const rows = await histogramRows([file, file]);
  assert.deepEqual(rows.subarray(512), h);
  await assert.rejects(histogramOfFile(join(dir, 'none.png')), /none\.png/);
});

test('spread: mean, sample sd, min and max over folds', { timeout: TIMEOUT }, () => {
  const s = spread([0, 0.5, 1]);
  assert.deepEqual(s, { mean: 0.5, sd: 0.5, min: 0, max: 1 });
  assert.deepEqual(spread([0.25]), { mean: 0.25, sd: 0, min: 0.25, max: 0.25 });
});

test(
  'scoreFolds and summarise: per-fold metrics, their spread, and the pooled figures',
  { timeout: TIMEOUT },
  async () => {
    const norm = (x: number, y: number) => [x / Math.hypot(x, y), y / Math.hypot(x, y)];
    // Specimens A and B hold an x tile and a y tile where they belong; C's x tile looks like a y; D holds
    // the only z, so its query has nothing of its class to find.
    const tiles = [
      { group: 'A', label: 'x', v: norm(1, 0) },
      { group: 'A', label: 'y', v: norm(0, 1) },
      { group: 'B', label: 'x', v: norm(1, 0.05) },
      { group: 'B', label: 'y', v: norm(0.05, 1) },
      { group: 'C', label: 'x', v: norm(0.3, 1) },
      { group: 'D', label: 'z', v: norm(-1, -0.2) },
    ];
    const folds = await scoreFolds(
      new Float32Array(tiles.flatMap((t) => t.v)),
      2,
      tiles.map((t) => t.label),
      groupFolds(tiles.map((t) => t.group)),
    );
    assert.deepEqual(
      folds.map((f) => [f.held, f.metrics.n_queries, f.metrics.eta_p, f.unanswerable]),
      [
        ['A', 2, 1, 0],
        ['B', 2, 1, 0],
        ['C', 1, 0, 0],
        ['D', 1, 0, 1],
      ],
    );
    const summary = summarise(folds);
    assert.equal(summary.folds, 4);
    assert.equal(summary.queries, 6);
    assert.equal(summary.unanswerable, 1);
    close(summary.over_folds.eta_p.mean, 0.5, 'η_p over folds');
    close(summary.over_folds.eta_p.sd, Math.sqrt(1 / 3), 'η_p sd');
    close(summary.pooled.eta_p, 4 / 6, 'pooled η_p: 4 of 6 queries');
    // Pooled recall per class: x 2 of 3, y 2 of 2, z 0 of 1.
    close(summary.pooled.eta_w, (2 / 3 + 1 + 0) / 3, 'pooled η_w');
    // Every query but D's has a tile of its class among the top 5 of its index.
    close(summary.pooled.recall_at_5, 5 / 6, 'pooled Recall@5');
  },
);

const absent = missingShared();
test(
  'Kather 2016 tiles, colour histogram: ten specimen folds, no specimen on both sides, every metric in [0, 1]',
  { timeout: TIMEOUT, skip: absent ?? false },
  async () => {
    const set = await readKather2016();
    assert.equal(set.tiles.length, 24);
    const folds = groupFolds(set.tiles.map((t) => t.group));
    assert.equal(folds.length, 10, 'the NOTICE counts ten source specimens');
    for (const fold of folds) {
      const indexSpecimens = new Set(fold.index.map((i) => set.tiles[i].group));
      assert.ok(!indexSpecimens.has(fold.held), `${fold.held} is in its own fold's index`);
    }
    const vectors = await histogramRows(set.tiles.map((t) => t.path));
    const summary = summarise(
      await scoreFolds(
        vectors,
        HISTOGRAM_BINS ** 3,
        set.tiles.map((t) => t.label),
        folds,
      ),
    );
    assert.equal(summary.folds, 10);
    assert.equal(summary.queries, 24);
    assert.equal(summary.unanswerable, 3, 'the three EMPTY tiles all come from CRC-Prim-HE-06');
    for (const metric of REAL_METRICS) {
      const { mean, sd, min, max } = summary.over_folds[metric];
      assert.ok(0 <= min && min <= mean && mean <= max && max <= 1, `${metric}: ${JSON.stringify({ min, mean, max })}`);
      assert.ok(sd >= 0 && Number.isFinite(sd), `${metric} sd ${sd}`);
      const pooled = summary.pooled[metric];
      assert.ok(pooled >= 0 && pooled <= 1, `${metric} pooled ${pooled}`);
    }
  },
);
