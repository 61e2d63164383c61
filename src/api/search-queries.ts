/** Searching an index with queries of any kind (query.ts): what the library's `search` and `searchBatch` and `histoseek search IMAGE…` return. */
import { hitItems } from '../store/item-store.js';
import type { Exclusion } from '../store/types.js';
import { HistoseekError } from '../util/errors.js';
import { queryVectors } from './query.js';
import { rankedResults, type SearchResult } from './results.js';
import type { SearchableIndex } from './searchable-index.js';

export interface QuerySearchOptions {
  /** Results per query. */
  k: number;
  /** Leave out the items of this slide. */
  excludeSlide?: string;
  /** Images embedded per batch (default 8). */
  batch?: number;
}

/** BAD_QUERY unless k is a positive integer. */
export function checkK(k: number): void {
  if (!Number.isSafeInteger(k) || k < 1)
    throw new HistoseekError('BAD_QUERY', `search: k must be a positive integer, got ${k}`);
}

/** Ranked results for normalised query descriptors (`count` rows). */
export async function searchVectors(
  index: SearchableIndex,
  vectors: Float32Array,
  count: number,
  o: QuerySearchOptions,
): Promise<SearchResult[][]> {
  checkK(o.k);
  const slide = o.excludeSlide;
  const exclude: Exclusion | undefined =
    slide === undefined ? undefined : { rows: [await index.store.slideRows(slide)] };
  const hits = await index.searcher.search(vectors, count, { k: o.k, exclude });
  return Promise.all(hits.map(async (ranked) => rankedResults(await hitItems(index.store, ranked))));
}

/** Ranked results for each query (images embedded with the index's model, descriptors as given), in order. */
export async function searchQueries(
  index: SearchableIndex,
  queries: readonly unknown[],
  o: QuerySearchOptions,
): Promise<SearchResult[][]> {
  checkK(o.k);
  if (!queries.length) return [];
  const vectors = await queryVectors(index.embedder, queries, o.batch ?? 8);
  return searchVectors(index, vectors, queries.length, o);
}
