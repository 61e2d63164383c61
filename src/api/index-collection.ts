/**
 * Indexing a collection into a store — a folder or PostgreSQL (then under claims shared with other
 * workers): `embedItems` is the run both `histoseek index DIR` and the library's `add` make, with
 * an embedder already loaded, counts for a progress display and a signal to stop between batches;
 * `indexCollection` is the command's whole job (its model, its store, progress bars and a summary).
 */
import { resolve } from 'node:path';
import type { CollectionItem, Layout } from '../data/collections/collection.js';
import { readCollection, type ReadOptions } from '../data/collections/read.js';
import type { ImageError } from '../data/image.js';
import { isSyntheticCollection } from '../data/synthetic/provenance.js';
import type { PixelLoader } from '../engine/embed-images.js';
import { createEmbedder } from '../engine/embedders.js';
import type { Embedder } from '../engine/embedder.js';
import { indexItems, type IndexReport } from '../index/indexer.js';
import type { ItemStore } from '../index/item-store.js';
import { isPostgresUrl, openOrCreateStore } from '../index/open-store.js';
import { DEFAULT_LEASE_SECONDS, indexShared, workUnits } from '../index/shared-indexing.js';
import type { VectorKind } from '../index/store.js';
import { isBundledCheckpoint } from '../model/checkpoint.js';
import { Progress } from '../util/progress.js';
import type { SlideWithoutPatches } from '../wsi/no-patches.js';
import type { PatchSelection } from '../wsi/patch-selection.js';
import { throwIfAborted } from './abort.js';
import { SILENT_LOGGER, streamLogger, type Logger } from './logger.js';
import { BUNDLED_MODEL_NOTE, modelIdentity, resolveModel, type ModelOptions } from './models.js';
import {
  describeSlides,
  describeSlidesWithoutPatches,
  folderBytes,
  formatBytes,
  itemsPerSlide,
} from './slide-summary.js';

/** Where nothing is shown. */
const SILENT = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

export interface IndexRequest extends ModelOptions {
  root: string;
  layout: Layout;
  labels?: string;
  /** slides: which tissue patches of each slide to store (default: all). */
  patches?: PatchSelection;
  db: string;
  batch: number;
  threads: number;
  /** Stored precision, for a new index. */
  vectors?: VectorKind;
  /** PostgreSQL: seconds a claim lasts without renewal. */
  leaseSeconds?: number;
  /** No progress bars or summary on stderr. */
  quiet?: boolean;
}

/** What an indexing run did, beyond the indexer's counts: slides that could not be read or gave no patch, and the index's size after. */
export interface IndexOutcome extends IndexReport {
  unreadableSlides: { source: string; reason: string }[];
  withoutPatches: SlideWithoutPatches[];
  /** Live items in the index after the run. */
  live: number;
}

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

/**
 * Indexes a collection (resuming where a previous run stopped), drawing progress and writing a
 * summary on stderr (or nothing, with `quiet`).
 */
export async function indexCollection(o: IndexRequest): Promise<IndexOutcome> {
  const started = performance.now();
  const out = o.quiet ? SILENT : process.stderr;
  const logger = streamLogger(out);
  const planning = new Progress('finding tissue', 0, 'slides', out);
  const collection = await readIndexCollection(o.root, o.layout, {
    labels: o.labels,
    patches: o.patches,
    logger,
    onSlide: (done, total) => {
      planning.total = total;
      planning.advance(1);
      if (done === total) planning.finish();
    },
  });
  const model = await resolveModel(o);
  noteBundledModel(o, o.root, logger);
  const store = await openOrCreateStore(o.db, modelIdentity(model, o.weights && resolve(o.weights), o), {
    vectors: o.vectors,
  });
  let report: IndexReport;
  let live: number;
  let slidesIndexed = 0;
  try {
    const embedder = await createEmbedder(model, { threads: o.threads, logger });
    const shared = store.workClaims() !== null;
    const progress = new Progress(shared ? 'indexing (this worker)' : 'indexing', 0, 'images', out);
    try {
      report = await embedItems(store, embedder, collection.root, collection.items, {
        batch: o.batch,
        leaseSeconds: o.leaseSeconds,
        onFailure: (f) => out.write(`\nskipped ${f.message}\n`),
        onProgress: (p) => {
          progress.total = p.total;
          progress.reach(p.done);
        },
        onShared: (all, total, others) =>
          progress.advance(
            0,
            `all workers: ${all}/${total} stored${others ? `, ${others} units held by other workers` : ''}`,
          ),
      });
      progress.finish();
    } finally {
      await embedder.release();
    }
    live = await store.liveCount();
    const slides =
      o.layout === 'slides'
        ? `; ${describeSlides(itemsPerSlide(collection.items), (performance.now() - started) / 1000)}${describeSlidesWithoutPatches(collection.withoutPatches)}`
        : '';
    out.write(
      `${store.location}: ${report.added} added, ${report.skipped} already indexed, ${report.failures.length} unreadable (skipped); ${live} items in the index (${store.vectorKind} vectors)${slides}\n`,
    );
    if (o.layout === 'slides') slidesIndexed = (await store.slideCounts()).size;
  } finally {
    await store.close();
  }
  // Measured once the store is closed, when SQLite has folded its write-ahead log into the database.
  if (slidesIndexed && !isPostgresUrl(o.db)) {
    const bytes = await folderBytes(o.db);
    out.write(
      `${o.db}: ${formatBytes(bytes)} on disk, ${formatBytes(bytes / slidesIndexed)} per slide (${slidesIndexed} slides in the index)\n`,
    );
  }
  return { ...report, unreadableSlides: collection.skipped, withoutPatches: collection.withoutPatches, live };
}
