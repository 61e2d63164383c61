/** Searching an index with image files: what `search IMAGE…` prints and the library's `search` returns. */
import { ItemLoader } from '../data/collections/load.js';
import { embedAll } from '../engine/embed-images.js';
import { normaliseRows } from '../index/indexer.js';
import { hitItems } from '../index/item-store.js';
import type { Exclusion } from '../index/searcher.js';
import type { SearchResultJson } from './schemas.js';
import type { SearchableIndex } from './searchable-index.js';

/**
 * One ranked answer: the shape of `search --json`'s `results`, the fields of the HTTP API's result
 * (src/api/schemas.ts) that name the item's source: rank, distance (squared L2 between unit
 * descriptors, 2 − 2·cosine: 0 is identical), path, label, slide (or null).
 */
export type SearchResult = Pick<SearchResultJson, 'rank' | 'distance' | 'path' | 'label' | 'slide'>;

export interface ImageSearchOptions {
  k: number;
  /** Leave out the items of this slide. */
  excludeSlide?: string;
  /** Images embedded per batch (default 8). */
  batch?: number;
}

/** Ranked results for normalised query descriptors (`count` rows). */
export async function searchVectors(
  index: SearchableIndex,
  vectors: Float32Array,
  count: number,
  o: ImageSearchOptions,
): Promise<SearchResult[][]> {
  const slide = o.excludeSlide;
  const excludedRows = slide === undefined ? null : new Set(await index.store.slideRows(slide));
  const exclude: Exclusion | undefined = excludedRows
    ? { groupOf: () => slide!, excludes: (_g, row) => excludedRows.has(row) }
    : undefined;
  const hits = await index.searcher.search(vectors, count, { k: o.k, exclude });
  return Promise.all(
    hits.map(async (ranked) =>
      (await hitItems(index.store, ranked)).map((item, i) => ({
        rank: i + 1,
        distance: item.distance,
        path: item.source,
        label: item.label,
        slide: item.slide ?? null,
      })),
    ),
  );
}

/** Ranked results for each image file (absolute paths); an unreadable image is an error naming it. */
export async function searchImages(
  index: SearchableIndex,
  sources: string[],
  o: ImageSearchOptions,
): Promise<SearchResult[][]> {
  const loader = new ItemLoader();
  try {
    const embedded = await embedAll(index.embedder, sources, o.batch ?? 8, (s, size) => loader.load(s, size));
    if (embedded.failures.length) throw new Error(embedded.failures.map((f) => f.message).join('\n'));
    return searchVectors(index, normaliseRows(embedded.raw, index.store.model.dim), sources.length, o);
  } finally {
    await loader.close();
  }
}
