/**
 * An evaluation run: embed the queries (or take them from the index, leave-one-slide-out),
 * retrieve each query's top k, and score them.
 */
import { ItemLoader } from '../collections/load.js';
import type { CollectionItem } from '../collections/collection.js';
import type { ImageError } from '../data/image.js';
import { embedAll } from '../engine/embed-images.js';
import type { Embedder } from '../engine/embedder.js';
import { normaliseRows } from '../store/vectors/normalise.js';
import type { ItemSearcher, ItemStore } from '../store/item-store.js';
import type { Exclusion } from '../store/types.js';
import { evaluateRetrieval, type QueryResult, type RetrievalMetrics } from './metrics.js';

export interface EvalOutcome {
  metrics: RetrievalMetrics;
  queries: number;
  failures: ImageError[];
}

async function score(
  searcher: ItemSearcher,
  store: ItemStore,
  vectors: Float32Array,
  labels: string[],
  k: number,
  exclude?: Exclusion,
): Promise<RetrievalMetrics> {
  const hits = await searcher.search(vectors, labels.length, { k, exclude });
  const rowLabels = new Map((await store.allItems()).map((item) => [item.row, item.label]));
  const results: QueryResult[] = hits.map((ranked, q) => ({
    trueLabel: labels[q],
    neighbours: ranked.map((h) => rowLabels.get(h.row)!),
  }));
  return evaluateRetrieval(results, await store.labelCounts());
}

/** Queries from a collection, searched against the whole index (the official Kimia protocol when the index holds the training set). */
export async function evaluateQueries(
  store: ItemStore,
  searcher: ItemSearcher,
  embedder: Embedder,
  queries: CollectionItem[],
  k: number,
  batchSize: number,
  onProgress?: (n: number) => void,
): Promise<EvalOutcome> {
  const loader = new ItemLoader();
  try {
    const embedded = await embedAll(
      embedder,
      queries.map((q) => q.source),
      batchSize,
      (s, size) => loader.load(s, size),
      onProgress,
    );
    if (embedded.sources.length === 0) throw new Error('no query image could be read');
    const labelOf = new Map(queries.map((q) => [q.source, q.label]));
    const metrics = await score(
      searcher,
      store,
      normaliseRows(embedded.raw, store.model.dim),
      embedded.sources.map((s) => labelOf.get(s)!),
      k,
    );
    return { metrics, queries: embedded.sources.length, failures: embedded.failures };
  } finally {
    await loader.close();
  }
}

/** Every indexed item as a query against the others, leaving out its own slide (itself when it has none). */
export async function evaluateLeaveOneOut(store: ItemStore, searcher: ItemSearcher, k: number): Promise<EvalOutcome> {
  const items = await store.allItems();
  const queries = await store.vectors(items.map((item) => item.row));
  // One group per slide (its items leave the whole slide out), one per item without a slide (leaves itself out).
  const groups = new Map<string, { index: number; rows: number[] }>();
  const groupOf = items.map((item) => {
    const key = item.slide != null ? `slide:${item.slide}` : `row:${item.row}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { index: groups.size, rows: [] }));
    group.rows.push(item.row);
    return group.index;
  });
  const exclude: Exclusion = { rows: [...groups.values()].map((g) => g.rows), groupOf };
  const metrics = await score(
    searcher,
    store,
    queries,
    items.map((i) => i.label),
    k,
    exclude,
  );
  return { metrics, queries: items.length, failures: [] };
}
