/**
 * Indexing a collection into a store — a folder or PostgreSQL (then under claims shared with other
 * workers) — with progress and a summary: what `histoseek index DIR` and the library's `add` run.
 */
import { resolve } from 'node:path';
import type { CollectionItem, Layout } from '../data/collections/collection.js';
import { readCollection } from '../data/collections/read.js';
import type { ImageError } from '../data/image.js';
import { isSyntheticCollection } from '../data/synthetic/provenance.js';
import { createEmbedder, type ModelEmbedder } from '../engine/embedders.js';
import { indexItems, type IndexReport } from '../index/indexer.js';
import type { ItemStore } from '../index/item-store.js';
import { isPostgresUrl, openOrCreateStore } from '../index/open-store.js';
import { DEFAULT_LEASE_SECONDS, indexShared, workUnits } from '../index/shared-indexing.js';
import type { VectorKind } from '../index/store.js';
import { Progress } from '../util/progress.js';
import type { SlideWithoutPatches } from '../wsi/no-patches.js';
import type { PatchSelection } from '../wsi/patch-selection.js';
import { isBundledCheckpoint } from '../model/checkpoint.js';
import { BUNDLED_MODEL_NOTE, modelIdentity, resolveModel, type ModelOptions } from './models.js';
import { describeSlides, describeSlidesWithoutPatches, folderBytes, formatBytes } from './slide-summary.js';

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

/**
 * Indexes a collection (resuming where a previous run stopped), drawing progress and writing a
 * summary on stderr (or nothing, with `quiet`).
 */
export async function indexCollection(o: IndexRequest): Promise<IndexOutcome> {
  const started = performance.now();
  const out = o.quiet ? SILENT : process.stderr;
  const planning = new Progress('finding tissue', 0, 'slides', out);
  const collection = await readCollection(o.root, o.layout, 'index', {
    labels: o.labels,
    patches: o.patches,
    onSlide: (done, total) => {
      planning.total = total;
      planning.advance(1);
      if (done === total) planning.finish();
    },
  });
  for (const s of collection.skipped) out.write(`skipped ${s.reason}\n`);
  const model = await resolveModel(o);
  if (o.encoder === undefined && isBundledCheckpoint(o.weights) && !isSyntheticCollection(o.root))
    out.write(`histoseek: note: ${BUNDLED_MODEL_NOTE}\n`);
  const store = await openOrCreateStore(o.db, modelIdentity(model, o.weights && resolve(o.weights), o), {
    vectors: o.vectors,
  });
  let report: IndexReport;
  let live: number;
  let slidesIndexed = 0;
  try {
    const embedder = await createEmbedder(model, { threads: o.threads });
    try {
      report = await embedInto(store, embedder, collection.root, collection.items, o, out);
    } finally {
      await embedder.release();
    }
    live = await store.liveCount();
    const slides =
      o.layout === 'slides'
        ? `; ${describeSlides(collection.items, (performance.now() - started) / 1000)}${describeSlidesWithoutPatches(collection.withoutPatches)}`
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

/** Embeds the collection's missing items into the store: in one pass, or unit by unit under claims shared with other workers. */
async function embedInto(
  store: ItemStore,
  embedder: ModelEmbedder,
  root: string,
  items: CollectionItem[],
  o: IndexRequest,
  out: NodeJS.WriteStream,
): Promise<IndexReport> {
  const options = {
    batchSize: o.batch,
    extra: { collection: root },
    onFailure: (f: ImageError) => out.write(`\nskipped ${f.message}\n`),
  };
  const stored = await store.storedSources(items.map((i) => i.source));
  const claims = store.workClaims();
  if (!claims) {
    const progress = new Progress('indexing', items.length - stored.size, 'images', out);
    const report = await indexItems(store, embedder, items, { ...options, onProgress: (n) => progress.advance(n) });
    progress.finish();
    return report;
  }
  const progress = new Progress('indexing (this worker)', items.length - stored.size, 'images', out);
  const report = await indexShared(store, claims, embedder, workUnits(root, items), {
    ...options,
    leaseSeconds: o.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
    onProgress: (n) => progress.advance(n),
    onShared: (all, total, others) =>
      progress.advance(
        0,
        `all workers: ${all}/${total} stored${others ? `, ${others} units held by other workers` : ''}`,
      ),
  });
  progress.finish();
  return report;
}
