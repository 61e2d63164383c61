/**
 * Indexing a collection into a store — a folder or PostgreSQL (then under claims shared with other
 * workers): `embedItems` is the run the library's `add` makes (and so `histoseek index DIR`), with
 * an embedder already loaded, counts for a progress display and a signal to stop between batches.
 */
import type { CollectionItem, Layout } from '../collections/collection.js';
import { readCollection, type ReadOptions } from '../collections/read.js';
import type { ImageError } from '../data/image.js';
import { isSyntheticCollection } from '../data/synthetic/provenance.js';
import type { PixelLoader } from '../engine/embed-images.js';
import type { Embedder } from '../engine/embedder.js';
import { indexItems, type IndexReport } from '../store/indexer.js';
import type { ItemStore } from '../store/item-store.js';
import { DEFAULT_LEASE_SECONDS, indexShared, workUnits } from '../store/shared-indexing.js';
import { isBundledCheckpoint } from '../model/checkpoint.js';
import { throwIfAborted } from './abort.js';
import { SILENT_LOGGER, type Logger } from '../util/logger.js';
import { BUNDLED_MODEL_NOTE, type ModelOptions } from './models.js';

/** Where an indexing run stands, after each batch it has committed. */
export interface AddProgress {
  /** Images settled so far (embedded and stored, or found unreadable). */
  done: number;
  /** Images this run has to embed: those of the input the index does not hold yet. */
  total: number;
  /** Stored so far. */
  added: number;
  /** Unreadable so far (recorded and skipped). */
  failures: number;
}

export interface EmbedItemsOptions {
  batch: number;
  /** PostgreSQL: seconds a claim lasts without renewal. */
  leaseSeconds?: number;
  /** Reads an item's pixels (default: files, array rows, slide regions). */
  load?: PixelLoader;
  onProgress?: (progress: AddProgress) => void;
  onFailure?: (failure: ImageError) => void;
  /** PostgreSQL, after each pass over the units: items stored by all workers, of `total`, and units other workers hold. */
  onShared?: (stored: number, total: number, heldByOthers: number) => void;
  /** Stops the run after the batch in progress is committed (ABORTED); a later run resumes from there. */
  signal?: AbortSignal;
}

/**
 * Embeds the items the store lacks and stores them, batch by batch (a rerun skips what is stored):
 * in one pass, or unit by unit under claims shared with other workers (PostgreSQL).
 */
export async function embedItems(
  store: ItemStore,
  embedder: Embedder,
  /** The collection folder the items were read from (recorded with them), or null. */
  root: string | null,
  items: CollectionItem[],
  o: EmbedItemsOptions,
): Promise<IndexReport> {
  const what = `indexing into ${store.location}`;
  throwIfAborted(o.signal, what);
  const stored = await store.storedSources(items.map((i) => i.source));
  const progress: AddProgress = { done: 0, total: items.length - stored.size, added: 0, failures: 0 };
  const options = {
    batchSize: o.batch,
    extra: root === null ? {} : { collection: root },
    load: o.load,
    onFailure: (f: ImageError) => {
      progress.failures++;
      o.onFailure?.(f);
    },
    // Called once a batch is committed: the place to stop, losing nothing.
    onProgress: (settled: number) => {
      progress.done += settled;
      progress.added = progress.done - progress.failures;
      o.onProgress?.({ ...progress });
      throwIfAborted(o.signal, what);
    },
  };
  const claims = store.workClaims();
  if (!claims) return indexItems(store, embedder, items, options);
  return indexShared(store, claims, embedder, workUnits(root ?? '', items), {
    ...options,
    leaseSeconds: o.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
    onShared: o.onShared,
  });
}

/** Reads a collection folder to index, logging the slides it skipped. */
export async function readIndexCollection(
  root: string,
  layout: Layout,
  o: Pick<ReadOptions, 'labels' | 'patches' | 'onSlide'> & { logger?: Logger },
) {
  const collection = await readCollection(root, layout, 'index', o);
  for (const s of collection.skipped) (o.logger ?? SILENT_LOGGER).warn(`skipped ${s.reason}`);
  return collection;
}

/** Warns when the built-in model (random backbone weights) is about to index anything but the demo's synthetic tissue. */
export function noteBundledModel(o: ModelOptions, root: string, logger: Logger): void {
  if (o.encoder === undefined && isBundledCheckpoint(o.weights) && !isSyntheticCollection(root))
    logger.warn(`histoseek: note: ${BUNDLED_MODEL_NOTE}`);
}
