/**
 * Embeds a collection into an index: skips what the index already holds (so a killed run, rerun,
 * finishes without recomputing or duplicating anything), decodes the next batch while the model
 * runs the current one, and commits batch by batch. Unreadable images are recorded and skipped.
 */
import type { CollectionItem } from '../collections/collection.js';
import { ItemLoader } from '../collections/load.js';
import type { ImageError } from '../data/image.js';
import { embedImageFiles, type PixelLoader } from '../engine/embed-images.js';
import { EMBEDDING_NAME } from '../engine/graph-names.js';
import type { Embedder } from '../engine/embedder.js';
import type { ItemStore } from './item-store.js';
import { normaliseRows, rowNorms } from './vectors/normalise.js';
import type { ItemRecord } from './types.js';

export interface IndexReport {
  /** Items in the collection. */
  total: number;
  /** Already in the index before this run. */
  skipped: number;
  added: number;
  failures: ImageError[];
}

export interface IndexOptions {
  batchSize: number;
  /** Called after each batch with the number of items it settled (embedded or failed). */
  onProgress?: (settled: number) => void;
  onFailure?: (failure: ImageError) => void;
  /** Extra columns for each item (e.g. the collection root). */
  extra?: Partial<ItemRecord>;
  /** Reads an item's pixels by its source (default: files, array rows and slide regions; a library caller's images in memory). */
  load?: PixelLoader;
}

export async function indexItems(
  store: ItemStore,
  embedder: Embedder,
  items: CollectionItem[],
  options: IndexOptions,
): Promise<IndexReport> {
  const stored = await store.storedSources(items.map((item) => item.source));
  const todo = items.filter((item) => !stored.has(item.source));
  const bySource = new Map(todo.map((item) => [item.source, item]));
  const loader = new ItemLoader();
  const report: IndexReport = { total: items.length, skipped: items.length - todo.length, added: 0, failures: [] };
  try {
    const sources = todo.map((item) => item.source);
    const load: PixelLoader = options.load ?? ((s, size) => loader.load(s, size));
    for await (const batch of embedImageFiles(embedder, sources, options.batchSize, load)) {
      for (const failure of batch.failures) {
        await store.recordFailure(failure.path, failure.message);
        report.failures.push(failure);
        options.onFailure?.(failure);
      }
      if (batch.paths.length) {
        const raw = batch.outputs.get(EMBEDDING_NAME)!.data;
        const records = batch.paths.map((source) => ({ ...options.extra, ...bySource.get(source)! }));
        await store.append(records, normaliseRows(raw, embedder.dimensions), rowNorms(raw, embedder.dimensions));
        report.added += batch.paths.length;
      }
      options.onProgress?.(batch.paths.length + batch.failures.length);
    }
  } finally {
    await loader.close();
  }
  return report;
}
