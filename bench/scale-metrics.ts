/** bench:scale's measures: latency percentiles, recall@k, top-k merging for the streamed ground truth, and the extrapolation of FAISS HNSW to 10⁷. */
import type { SearchHits } from '../src/store/vectors/exact-search.js';
import { significant } from './common.js';

/** The value below which `p` of the sorted values fall (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

export function latencySummary(ms: readonly number[]): { p50: number; p95: number } {
  return { p50: significant(percentile(ms, 0.5)), p95: significant(percentile(ms, 0.95)) };
}

/** Mean share of each query's true top-k found in its answer's top-k; `truth` is [queries × k] ids. */
export function recallAtK(answers: { q: number; ids: readonly number[] }[], truth: Int32Array, k: number): number {
  if (answers.length === 0) return NaN;
  let found = 0;
  for (const { q, ids } of answers) {
    const expected = new Set(truth.subarray(q * k, (q + 1) * k));
    found += ids.slice(0, k).filter((id) => expected.has(id)).length;
  }
  return significant(found / (answers.length * k));
}

/** Merges `extra` (ids offset by `offset`) into `best`, query by query, keeping the k best by (distance, id). */
export function mergeTopK(best: SearchHits, extra: SearchHits, offset: number): void {
  const { k } = best;
  const queries = best.ids.length / k;
  for (let q = 0; q < queries; q++) {
    const all: { id: number; distance: number }[] = [];
    for (let j = 0; j < k; j++)
      if (best.ids[q * k + j] >= 0) all.push({ id: best.ids[q * k + j], distance: best.distances[q * k + j] });
    for (let j = 0; j < extra.k; j++)
      if (extra.ids[q * extra.k + j] >= 0)
        all.push({ id: extra.ids[q * extra.k + j] + offset, distance: extra.distances[q * extra.k + j] });
    all.sort((a, b) => a.distance - b.distance || a.id - b.id);
    for (let j = 0; j < k; j++) {
      best.ids[q * k + j] = all[j]?.id ?? -1;
      best.distances[q * k + j] = all[j]?.distance ?? Infinity;
    }
  }
}

export function emptyHits(queries: number, k: number): SearchHits {
  return { ids: new Int32Array(queries * k).fill(-1), distances: new Float32Array(queries * k).fill(Infinity), k };
}

export interface Measured {
  n: number;
  build_s: number;
  bytes_per_item: number;
  rss_mib: number;
  p50_ms: number;
  p95_ms: number;
  batch64_ms_per_query: number;
  recall_at_10: number;
}

/**
 * FAISS HNSW at `n` from its figures at two smaller sizes a < b: build time ∝ N·ln N (fitted
 * through b, the nearer), bytes per item constant (b's), RSS linear in N, latency and recall
 * linear in ln N (through both points), recall capped at 1.
 */
export function extrapolateHnsw(a: Measured, b: Measured, n: number): Omit<Measured, 'n'> {
  const logFit = (ya: number, yb: number) => yb + ((ya - yb) / Math.log(a.n / b.n)) * Math.log(n / b.n);
  const linearFit = (ya: number, yb: number) => yb + ((yb - ya) / (b.n - a.n)) * (n - b.n);
  return {
    build_s: significant(b.build_s * ((n * Math.log(n)) / (b.n * Math.log(b.n)))),
    bytes_per_item: b.bytes_per_item,
    rss_mib: significant(linearFit(a.rss_mib, b.rss_mib)),
    p50_ms: significant(logFit(a.p50_ms, b.p50_ms)),
    p95_ms: significant(logFit(a.p95_ms, b.p95_ms)),
    batch64_ms_per_query: significant(logFit(a.batch64_ms_per_query, b.batch64_ms_per_query)),
    recall_at_10: significant(Math.min(1, logFit(a.recall_at_10, b.recall_at_10))),
  };
}
