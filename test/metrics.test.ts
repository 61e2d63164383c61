import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { FRACTION_METRICS, FIXTURES } from './helpers.js';
import { compareLabels, evaluateRetrieval, kimiaEta, type QueryResult } from '../src/eval/metrics.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

function assertNear(actual: number, expected: number, what: string, tolerance = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} ≠ ${expected}`);
}

interface EtaFixture {
  true: number[];
  pred: number[];
  n_scans: number;
  expected: { eta_p: number; eta_w: number; eta_tot: number; eta_w_precision: number };
}

const fixture = JSON.parse(await readFile(`${FIXTURES}kimia_eta.json`, 'utf8')) as EtaFixture;

describe('kimiaEta', { timeout: TIMEOUT }, () => {
  test('reproduces the PyTorch reference (kimia_eta.json) within 1e-6', () => {
    const eta = kimiaEta(fixture.pred, fixture.true);
    for (const key of ['eta_p', 'eta_w', 'eta_tot', 'eta_w_precision'] as const) {
      assertNear(eta[key], fixture.expected[key], key, 1e-6);
    }
    // Scans as strings ("s0"…) give the same figures.
    const asScans = (xs: number[]) => xs.map((x) => `s${x}`);
    assert.deepEqual(kimiaEta(asScans(fixture.pred), asScans(fixture.true)), eta);
  });

  test('a class never predicted and a class with no queries (hand-worked)', () => {
    // correct: a✓ a✗ b✓ b✓ c✗. Recall a 1/2, b 2/2, c 0/1; d has no query, so it has no recall.
    // Precision a 1/1, b 2/3, d 0/1; c is never predicted, so it has no precision.
    const eta = kimiaEta(['a', 'b', 'b', 'b', 'd'], ['a', 'a', 'b', 'b', 'c']);
    assertNear(eta.eta_p, 3 / 5, 'eta_p');
    assertNear(eta.eta_w, (1 / 2 + 1 + 0) / 3, 'eta_w');
    assertNear(eta.eta_w_precision, (1 + 2 / 3 + 0) / 3, 'eta_w_precision');
    assertNear(eta.eta_tot, (3 / 5) * (1 / 2), 'eta_tot');
  });

  test('rejects mismatched or empty inputs', () => {
    assert.throws(() => kimiaEta([0, 1], [0]), RangeError);
    assert.throws(() => kimiaEta([], []), RangeError);
  });
});

test('labels sort naturally', { timeout: TIMEOUT }, () => {
  assert.deepEqual(['s10', 's2', 's1', 's23', 's0'].sort(compareLabels), ['s0', 's1', 's2', 's10', 's23']);
});

describe('evaluateRetrieval', { timeout: TIMEOUT }, () => {
  /*
   * Four queries, index holding a×3, b×2, c×1, d×4. Hits (1-based ranks) and AP@10:
   *   q1 a: hits 1,3,4  → (1 + 2/3 + 3/4) / min(10,3)      top-5 votes a3 b1 c1 → a ✓   top-1 a
   *   q2 b: hits 3,4    → (1/3 + 2/4) / min(10,2)          a2 b2 d1, tie → a (rank 1) ✗  top-1 a
   *   q3 c: hit 10      → (1/10) / min(10,1)               b2 d3 → d ✗                   top-1 b
   *   q4 a: hits 2,4,5  → (1/2 + 2/4 + 3/5) / min(10,3)    c2 a3 → a ✓                   top-1 c
   */
  const results: QueryResult[] = [
    { trueLabel: 'a', neighbours: ['a', 'b', 'a', 'a', 'c'] },
    { trueLabel: 'b', neighbours: ['a', 'a', 'b', 'b', 'd', 'd', 'd', 'd', 'c', 'a'] },
    { trueLabel: 'c', neighbours: ['b', 'b', 'd', 'd', 'd', 'b', 'a', 'a', 'a', 'c'] },
    { trueLabel: 'a', neighbours: ['c', 'a', 'c', 'a', 'a', 'b', 'b', 'd', 'd', 'd'] },
  ];
  const counts = new Map([
    ['a', 3],
    ['b', 2],
    ['c', 1],
    ['d', 4],
  ]);

  test('every metric on a hand-worked example', () => {
    const m = evaluateRetrieval(results, counts);
    assert.equal(m.n_queries, 4);
    assertNear(m.recall_at_1, 1 / 4, 'recall@1');
    assertNear(m.recall_at_5, 3 / 4, 'recall@5');
    assertNear(m.recall_at_10, 1, 'recall@10');
    const ap = [(1 + 2 / 3 + 3 / 4) / 3, (1 / 3 + 2 / 4) / 2, 1 / 10, (1 / 2 + 2 / 4 + 3 / 5) / 3];
    assertNear(m.map_at_10, ap.reduce((s, v) => s + v) / 4, 'mAP@10');
    assertNear(m.mv_at_5, 2 / 4, 'mv@5');
    // Top-1: a→a, b→a, c→b, a→c.
    assert.deepEqual(m.labels, ['a', 'b', 'c']);
    assert.deepEqual(m.confusion, [
      [1, 0, 1],
      [1, 0, 0],
      [0, 1, 0],
    ]);
    assertNear(m.eta_p, 1 / 4, 'eta_p');
    assertNear(m.eta_w, (1 / 2 + 0 + 0) / 3, 'eta_w');
    assertNear(m.eta_w_precision, (1 / 2 + 0 + 0) / 3, 'eta_w_precision');
    assertNear(m.eta_tot, 1 / 24, 'eta_tot');
    assert.deepEqual(m.per_class, [
      { label: 'a', queries: 2, recall: 0.5, precision: 0.5 },
      { label: 'b', queries: 1, recall: 0, precision: 0 },
      { label: 'c', queries: 1, recall: 0, precision: 0 },
    ]);
  });

  test('η figures match kimiaEta on the fixture, with natural label order', () => {
    const scan = (i: number) => `s${i * 4}`; // s0, s4, s8, s12: s12 must sort last
    const m = evaluateRetrieval(
      fixture.true.map((t, q) => ({ trueLabel: scan(t), neighbours: [scan(fixture.pred[q])] })),
      new Map([0, 1, 2, 3].map((i) => [scan(i), 10])),
    );
    for (const key of ['eta_p', 'eta_w', 'eta_tot', 'eta_w_precision'] as const) {
      assertNear(m[key], fixture.expected[key], key, 1e-6);
    }
    assert.deepEqual(m.labels, ['s0', 's4', 's8', 's12']);
    // s12 (one query, predicted s4) is never predicted: its precision is null, not 0.
    assert.deepEqual(m.per_class.at(-1), { label: 's12', queries: 1, recall: 0, precision: null });
  });

  test('a predicted label with no queries gets a confusion column but no per-class entry', () => {
    const m = evaluateRetrieval(
      [
        { trueLabel: 'x', neighbours: ['x'] },
        { trueLabel: 'x', neighbours: ['y'] },
      ],
      new Map([
        ['x', 5],
        ['y', 5],
      ]),
    );
    assert.deepEqual(m.labels, ['x', 'y']);
    assert.deepEqual(m.confusion, [
      [1, 1],
      [0, 0],
    ]);
    assert.deepEqual(m.per_class, [{ label: 'x', queries: 2, recall: 0.5, precision: 1 }]);
    assertNear(m.eta_w, 0.5, 'eta_w over queried classes only');
    assertNear(m.eta_w_precision, (1 + 0) / 2, "eta_w' counts y's zero precision");
  });

  test('mAP@10 normalises by min(k, relevant items), not by the hits found', () => {
    const ap = (neighbours: string[], relevant: number) =>
      evaluateRetrieval([{ trueLabel: 'x', neighbours }], new Map([['x', relevant]])).map_at_10;
    const pad = (head: string[]) => [...head, ...new Array(10 - head.length).fill('o')];
    // One hit at rank 1 out of 5 in the index: 1/5, not 1.
    assertNear(ap(pad(['x']), 5), 1 / 5, 'single early hit');
    // Fewer relevant items (2) than k: both found at ranks 2 and 3.
    assertNear(ap(pad(['o', 'x', 'x']), 2), (1 / 2 + 2 / 3) / 2, 'R < k');
    assertNear(ap(pad(['x', 'x']), 2), 1, 'R < k, all at the top');
    // More relevant items than k: ten straight hits are perfect.
    assertNear(ap(new Array(10).fill('x'), 50), 1, 'R > k, all hits');
    // Hits beyond rank 10 do not count.
    assertNear(ap([...pad([]), 'x'], 1), 0, 'hit at rank 11');
    // Nothing of the label in the index: nothing to find, AP 0.
    assertNear(ap(pad([]), 0), 0, 'R = 0');
  });

  test('more hits than the index holds is an error (AP would exceed 1)', () => {
    assert.throws(
      () => evaluateRetrieval([{ trueLabel: 'x', neighbours: ['x', 'x'] }], new Map([['x', 1]])),
      /2 neighbours labelled x, but the index holds 1/,
    );
    assert.throws(() => evaluateRetrieval([{ trueLabel: 'x', neighbours: ['x'] }], new Map()), /index holds 0/);
  });

  test('majority vote@5: counts, ties to the best-ranked, ranks past 5 ignored', () => {
    const mv = (trueLabel: string, neighbours: string[]) =>
      evaluateRetrieval(
        [{ trueLabel, neighbours }],
        new Map([
          ['a', 9],
          ['b', 9],
          ['c', 9],
        ]),
      ).mv_at_5;
    assert.equal(mv('a', ['b', 'a', 'a', 'a', 'b']), 1, 'majority beats rank 1');
    assert.equal(mv('b', ['b', 'a', 'a', 'b', 'c']), 1, 'tie a2 b2: b is ranked first');
    assert.equal(mv('a', ['b', 'a', 'a', 'b', 'c']), 0, 'tie a2 b2: a loses');
    assert.equal(mv('a', ['c', 'a', 'b', 'a', 'b']), 1, 'tie a2 b2 behind c1: a is ranked first');
    assert.equal(mv('a', ['b', 'b', 'a', 'c', 'c', 'a', 'a']), 0, 'ranks 6–7 do not vote');
    assert.equal(mv('a', ['a', 'b']), 1, 'short list: tie goes to rank 1');
  });

  test('recall@k with hits at the edges and short lists', () => {
    const m = evaluateRetrieval(
      [
        { trueLabel: 'a', neighbours: ['b', 'b', 'b', 'b', 'a'] }, // rank 5
        { trueLabel: 'a', neighbours: ['b', 'b', 'b', 'b', 'b', 'a'] }, // rank 6
        { trueLabel: 'a', neighbours: [...new Array<string>(9).fill('b'), 'a'] }, // rank 10
        { trueLabel: 'a', neighbours: [...new Array<string>(10).fill('b'), 'a'] }, // rank 11
        { trueLabel: 'a', neighbours: ['b', 'b'] }, // short list, no hit
      ],
      new Map([
        ['a', 3],
        ['b', 20],
      ]),
    );
    assertNear(m.recall_at_1, 0, 'recall@1');
    assertNear(m.recall_at_5, 1 / 5, 'recall@5');
    assertNear(m.recall_at_10, 3 / 5, 'recall@10');
  });

  test('perfect retrieval scores 1 everywhere', () => {
    const labels = ['s2', 's10', 's1'];
    const perfect = labels.flatMap((label) =>
      [0, 1, 2].map(() => ({ trueLabel: label, neighbours: new Array<string>(10).fill(label) })),
    );
    const m = evaluateRetrieval(perfect, new Map(labels.map((l) => [l, 10])));
    for (const key of FRACTION_METRICS) {
      assert.equal(m[key], 1, key);
    }
    assert.deepEqual(m.labels, ['s1', 's2', 's10']);
    assert.deepEqual(m.confusion, [
      [3, 0, 0],
      [0, 3, 0],
      [0, 0, 3],
    ]);
    assert.ok(m.per_class.every((c) => c.recall === 1 && c.precision === 1));
  });

  test('rejects no queries and a query without neighbours', () => {
    assert.throws(() => evaluateRetrieval([], new Map()), /no queries/);
    assert.throws(() => evaluateRetrieval([{ trueLabel: 'a', neighbours: [] }], new Map([['a', 1]])), /no neighbours/);
  });
});
