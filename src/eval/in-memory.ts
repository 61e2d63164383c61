/** Retrieval scores for vectors in memory (validation, benchmarks): queries against an index, top-k, metrics. */
import { ExactSearch } from '../store/vectors/exact-search.js';
import { evaluateRetrieval, type RetrievalMetrics } from './metrics.js';

/** Both vector sets L2-normalised, dim values per row. */
export async function scoreRetrieval(
  dim: number,
  index: Float32Array,
  indexLabels: string[],
  queries: Float32Array,
  queryLabels: string[],
  k = 10,
  threads = 2,
): Promise<RetrievalMetrics> {
  const search = await ExactSearch.create(dim, { threads });
  const hits = await search.search(index, indexLabels.length, queries, queryLabels.length, k);
  await search.release();
  const results = queryLabels.map((trueLabel, q) => ({
    trueLabel,
    neighbours: Array.from(hits.ids.subarray(q * hits.k, (q + 1) * hits.k))
      .filter((id) => id >= 0)
      .map((id) => indexLabels[id]),
  }));
  const counts = new Map<string, number>();
  for (const label of indexLabels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return evaluateRetrieval(results, counts);
}
