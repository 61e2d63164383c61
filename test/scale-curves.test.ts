/** bench:scale's recall curves: figures read at a recall between two settings, below the sweep's lowest, or never reached. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atRecall, curves } from '../bench/scale-curves.js';

const line = (ef: number, recall: number, p50: number, batch: number) => ({
  case: 'd256-n1e5',
  engine: 'faiss',
  method: 'IndexHNSWFlat',
  ef_search: ef,
  recall_at_10: recall,
  p50_ms: p50,
  batch64_ms_per_query: batch,
});

const [hnsw] = curves([line(64, 0.96, 0.3, 0.2), line(16, 0.8, 0.1, 0.05), line(32, 0.9, 0.2, 0.1)]);

test('curves group lines by method, by ascending knob, and skip methods without one', () => {
  const found = curves([line(32, 0.9, 0.2, 0.1), { engine: 'faiss', method: 'IndexFlatL2', recall_at_10: 1 }]);
  assert.deepEqual(
    found.map((c) => [c.method, c.knob]),
    [['IndexHNSWFlat', 'ef_search']],
  );
  assert.deepEqual(
    hnsw.lines.map((r) => r.ef_search),
    [16, 32, 64],
  );
});

test('a recall between two settings is read linearly between them', () => {
  const at = atRecall(hnsw, 0.93);
  assert.equal(at.reached, true);
  assert.deepEqual(at.p50_ms_between, [32, 64]);
  assert.equal(at.p50_ms, 0.25);
  assert.equal(at.batch64_ms_per_query, 0.15);
});

test("a recall the lowest setting already reaches gives that setting's figures as upper bounds", () => {
  const at = atRecall(hnsw, 0.5);
  assert.equal(at.upper_bound, true);
  assert.equal(at.p50_ms, 0.1);
});

test('figures are read off the Pareto frontier: a slower setting of lower recall is passed over', () => {
  const [noisy] = curves([line(16, 0.97, 0.6, 0.05), line(32, 0.98, 0.3, 0.1), line(64, 0.99, 0.5, 0.2)]);
  const at = atRecall(noisy, 0.95);
  assert.equal(at.upper_bound, true);
  assert.equal(at.p50_ms, 0.3);
  assert.deepEqual(at.p50_ms_between, [32]);
  assert.equal(at.batch64_ms_per_query, 0.05);
  assert.equal(atRecall(noisy, 0.985).p50_ms, 0.4);
});

test('a recall no setting reaches says so, with the best recall', () => {
  const at = atRecall(hnsw, 0.99);
  assert.equal(at.reached, false);
  assert.equal(at.best_recall, 0.96);
  assert.equal(at.p50_ms, null);
});
