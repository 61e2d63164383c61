/**
 * histoseek as a library: load a model and embed images, open an index (a folder or a PostgreSQL
 * store), search it with images or descriptors, read its items, and add to it. The command line is
 * built on the same calls.
 *
 * Errors a caller can act on are HistoseekErrors with a stable `code`. Nothing is printed: notes and
 * warnings go to the `logger` option, when one is given.
 */
import { resolve } from 'node:path';
import type { Layout } from '../collections/collection.js';
import { readCollection } from '../collections/read.js';
import { createEmbedder } from '../engine/embedders.js';
import type { RetrievalMetrics } from '../eval/metrics.js';
import { evaluateLeaveOneOut, evaluateQueries } from '../eval/run.js';
import { openOrCreateStore, openStore } from '../store/open-store.js';
import type { ModelIdentity, SearchMode, VectorKind } from '../store/types.js';
import { HistoseekError } from '../util/errors.js';
import type { SlideWithoutPatches } from '../wsi/no-patches.js';
import type { PatchSelection } from '../collections/patch-selection.js';
import { throwIfAborted } from './abort.js';
import { addItems, type AddItem } from './add-items.js';
import { embedImageInputs } from './embed-inputs.js';
import type { ImageInput, RawPixels } from './image-input.js';
import { embedItems, noteBundledModel, readIndexCollection, type AddProgress } from './index-collection.js';
import { SILENT_LOGGER, type Logger } from '../util/logger.js';
import { modelIdentity, resolveModel, type ModelOptions } from './models.js';
import { checkAddOptions, checkLogger, checkOpenOptions, checkPositiveInteger } from './options.js';
import type { Query } from './query.js';
import { ReaderSlot, type Reader } from './reader-slot.js';
import {
  regionSearch,
  wholeSlideSearch,
  type RegionSearch,
  type SlideMatch,
  type WholeSlideSearch,
} from './slide-queries.js';
import { indexedItem, type Box, type IndexedItem, type SearchResult } from './results.js';
import { itemsPerSlide } from './slide-summary.js';
import { checkK, searchQueries } from './search-queries.js';
import { assertIndexModel, hasFolderIndex, openSearchableIndex, type SearchableIndex } from './searchable-index.js';
import { WriteQueue } from './write-queue.js';

export type {
  AddItem,
  AddProgress,
  Box,
  ImageInput,
  IndexedItem,
  Layout,
  Logger,
  ModelIdentity,
  ModelOptions,
  PatchSelection,
  Query,
  RawPixels,
  RetrievalMetrics,
  SearchMode,
  RegionSearch,
  SearchResult,
  SlideMatch,
  VectorKind,
  WholeSlideSearch,
};

/** Images embedded per batch when the caller does not say. */
const EMBED_BATCH = 8;

/** A loaded model, ready to embed images. */
export interface HistoseekModel extends AsyncDisposable {
  /** The model's identity: what an index records and checks. */
  readonly identity: ModelIdentity;
  /** Values per descriptor. */
  readonly dim: number;
  /** Images are resized to inputSize × inputSize. */
  readonly inputSize: number;
  /**
   * The raw descriptors f_e of the images (files, encoded bytes or raw pixels), one row of `dim`
   * values each (images.length × dim); an unusable image is a BAD_IMAGE (NOT_FOUND for a missing
   * file) naming it.
   */
  embed(images: readonly ImageInput[]): Promise<Float32Array>;
  /** Frees the inference session; later calls are CLOSED. */
  close(): Promise<void>;
}

export interface LoadModelOptions extends Omit<ModelOptions, 'weights'> {
  /** Inference threads (default 2). */
  threads?: number;
  /** Hears the model's notes and warnings (its optimised-model cache rebuilt, or unwritable); default: silent. */
  logger?: Logger;
}

/**
 * Loads a model: `weights` (a .safetensors checkpoint), or the built-in model; with `o.encoder`
 * (an ONNX file, or a foundation model fetched with `histoseek weights pull`), that encoder's
 * features, or the checkpoint trained over it.
 */
export async function loadModel(weights?: string, o: LoadModelOptions = {}): Promise<HistoseekModel> {
  checkPositiveInteger('loadModel', 'threads', o.threads);
  checkLogger('loadModel', o.logger);
  const model = await resolveModel({ ...o, weights });
  const embedder = await createEmbedder(model, { threads: o.threads ?? 2, logger: o.logger ?? SILENT_LOGGER });
  const identity = modelIdentity(model, weights && resolve(weights), o);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await embedder.release();
  };
  return {
    identity,
    dim: identity.dim,
    inputSize: identity.inputSize,
    async embed(images) {
      if (closed) throw new HistoseekError('CLOSED', 'embed: the model was closed');
      if (!Array.isArray(images))
        throw new HistoseekError('BAD_OPTION', 'embed: give an array of images (paths, bytes or raw pixels)');
      const names = images.map((image, i) => (typeof image === 'string' ? resolve(image) : `image ${i}`));
      return embedImageInputs(embedder, images, names, EMBED_BATCH);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface OpenIndexOptions extends ModelOptions {
  /** Inference and search threads (default 2). */
  threads?: number;
  /** `exact` scans every item; `two-stage` re-ranks graph candidates; `auto` (default) picks by size. */
  mode?: SearchMode;
  /** Two-stage: graph candidates per query, the nearest 100 of which (more for wide vectors or large k) are re-ranked exactly (default by size: 320 below 2 million items, 640 below 6 million, 2 560 from there, times d / 256 for vectors wider than 256; a PostgreSQL store's hnsw.ef_search: 160, 320, 640). */
  candidates?: number;
  /** Hears the notes and warnings of this index's work (add's skipped files, say); default: silent. */
  logger?: Logger;
  /** Create the index, for the model the options name, when there is none at `db` (default: NOT_FOUND). */
  create?: boolean;
  /** The stored precision of an index created here (default f16); an existing index that stores another is BAD_OPTION. */
  vectors?: VectorKind;
  /**
   * With `create`: false makes the options name the whole model (a weight or encoder left out is the
   * default, as for a new index), so an existing index built with another is WRONG_MODEL rather than
   * opened with the model it recorded (default true).
   */
  recordedModel?: boolean;
}

export interface SlideSearchOptions {
  /** Results (default 10). */
  k?: number;
  /** Let the results hold the query slide's own items (left out by default: they would find themselves). */
  includeOwnSlide?: boolean;
}

export interface SearchOptions {
  /** Results per query (default 10). */
  k?: number;
  /** Leave out this slide's items. */
  excludeSlide?: string;
  /** Query images embedded per batch (default 8). */
  batch?: number;
}

/** What an index holds. */
export interface IndexInfo {
  /** The folder, or the PostgreSQL URL without its password. */
  location: string;
  items: number;
  /** Live items per label. */
  labels: Record<string, number>;
  /** Live items per slide. */
  slides: Record<string, number>;
  model: ModelIdentity;
  vectors: VectorKind;
  search: 'exact' | 'two-stage';
  /** @internal The index's write counter these figures were read at (every add and remove advances it). */
  generation: number;
  /** @internal One more than the largest id ever given (removed ones included). */
  rows: number;
}

/** What info() reads once per generation. */
type IndexCounts = 'items' | 'labels' | 'slides' | 'generation' | 'rows';

export interface AddOptions {
  /** Images embedded per batch (default 16); each batch is committed before the next. */
  batch?: number;
  /** Called after each committed batch. */
  onProgress?: (progress: AddProgress) => void;
  /** Stops after the batch in progress is committed, with ABORTED; what was committed stays, and a later add resumes. */
  signal?: AbortSignal;
}

export interface AddCollectionOptions extends AddOptions {
  /** How the folder is laid out (default `folder`: one sub-folder of images per class). */
  layout?: Layout;
  /** kimia, slides: a CSV of slide,label[,patient]. */
  labels?: string;
  /** slides: which tissue patches of each slide to store (default: all). */
  patches?: PatchSelection;
  /** slides: called as each slide's tissue is found, before any image is embedded. */
  onSlide?: (done: number, total: number) => void;
  /** PostgreSQL: seconds a worker's claim on a unit (a slide, or a run of images) lasts without renewal; a dead worker's units pass to another after this (default 60). */
  leaseSeconds?: number;
  /** PostgreSQL, after each pass over the units: items all workers have stored, of `total`, and units other workers hold. */
  onShared?: (shared: { stored: number; total: number; heldByOthers: number }) => void;
}

/** What an add did. */
export interface AddReport {
  /** Items given (a collection's items, or those the iterable yielded). */
  total: number;
  /** Held by the index already (or given twice). */
  skipped: number;
  added: number;
  /** Unreadable images, recorded and skipped: each an error with its path, message and code. */
  failures: { path: string; message: string; code: HistoseekError['code'] }[];
  /** Slides of a collection that could not be read. */
  unreadableSlides: { source: string; reason: string }[];
  /** Slides of a collection that gave no patch, with the reason. */
  withoutPatches: SlideWithoutPatches[];
  /** Items a collection gives per slide (those already indexed included; empty for items from an iterable). */
  slides: Record<string, number>;
  /** Live items in the index after the add. */
  live: number;
}

/**
 * An opened index, with the model it was built with. Reads (search, get, info…) run at once, and
 * see every write that has finished; writes (add, remove) run one at a time, in the order called.
 * Use it with `await using`, or call `close()`.
 */
export class HistoseekIndex implements AsyncDisposable {
  private readonly writes = new WriteQueue();
  private readonly running = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;
  /** Counting scans every item (millions of rows in an archive): once per reader, that is per generation. */
  private readonly counts = new WeakMap<Reader, Promise<Pick<IndexInfo, IndexCounts>>>();

  /** @internal use openIndex */
  constructor(
    private readonly opened: SearchableIndex,
    private readonly reader: ReaderSlot,
    private readonly logger: Logger,
  ) {}

  /** The model's identity, as the index records it. */
  get model(): ModelIdentity {
    return this.opened.store.model;
  }

  /**
   * The k nearest items to a query: an image (a file's path, its bytes, or raw pixels), or a
   * descriptor of this index's model (`dim` values; normalised here). A query of another kind or
   * width is BAD_QUERY; an image that cannot be read is BAD_IMAGE (NOT_FOUND for a missing file).
   */
  async search(query: Query, o: SearchOptions = {}): Promise<SearchResult[]> {
    return (await this.searchBatch([query], o))[0];
  }

  /** Each query's k nearest items, in order: as many `search` calls, with the images embedded and searched together. */
  searchBatch(queries: readonly Query[], o: SearchOptions = {}): Promise<SearchResult[][]> {
    return this.run('search', () => {
      if (!Array.isArray(queries)) throw new HistoseekError('BAD_QUERY', 'searchBatch: give an array of queries');
      const k = o.k ?? 10;
      checkK(k);
      checkPositiveInteger('search', 'batch', o.batch);
      return this.reader.use(({ store, searcher }) =>
        searchQueries({ ...this.opened, store, searcher }, queries, {
          k,
          excludeSlide: o.excludeSlide,
          batch: o.batch ?? EMBED_BATCH,
        }),
      );
    });
  }

  /**
   * The k items nearest to a region of a slide (level-0 box): the region is cut into patches as an
   * indexed slide is, and each item ranks by its best distance to any of them. The slide's own
   * items are left out unless `includeOwnSlide`.
   */
  searchRegion(slide: string, box: Box, o: SlideSearchOptions = {}): Promise<RegionSearch> {
    return this.run('searchRegion', () => {
      const k = o.k ?? 10;
      checkK(k);
      return this.reader.use(({ store, searcher }) =>
        regionSearch({ embedder: this.opened.embedder, store, searcher }, slide, box, { ...o, k }),
      );
    });
  }

  /**
   * The k indexed slides nearest to a whole slide: its mosaic of representative patches searched,
   * each indexed slide ranked by the median over them of its nearest item's distance (with the
   * patches' top-1 votes). The slide itself is left out unless `includeOwnSlide`.
   */
  searchSlide(slide: string, o: SlideSearchOptions = {}): Promise<WholeSlideSearch> {
    return this.run('searchSlide', () => {
      const k = o.k ?? 10;
      checkK(k);
      return this.reader.use(({ store, searcher }) =>
        wholeSlideSearch({ embedder: this.opened.embedder, store, searcher }, slide, { ...o, k }),
      );
    });
  }

  /** The item with this id, or undefined when the index holds no such live item (never added, or removed). */
  get(id: number): Promise<IndexedItem | undefined> {
    return this.run('get', () => {
      checkId(id);
      return this.reader.use(async ({ store }) => {
        const [item] = await store.items([id]);
        return item && indexedItem(item);
      });
    });
  }

  /** The item's normalised descriptor (`dim` values, as stored), or undefined when get(id) is. */
  vector(id: number): Promise<Float32Array | undefined> {
    return this.run('vector', () => {
      checkId(id);
      return this.reader.use(async ({ store }) => {
        const [item] = await store.items([id]);
        return item && (await store.vectors([id]));
      });
    });
  }

  /** Counts, the model and how the index stores and searches. */
  info(): Promise<IndexInfo> {
    return this.run('info', () =>
      this.reader.use(async (reader) => {
        const { store, searcher } = reader;
        let counts = this.counts.get(reader);
        if (!counts) {
          counts = (async () => {
            const [labels, slides, items, rows] = await Promise.all([
              store.labelCounts(),
              store.slideCounts(),
              store.liveCount(),
              store.rowLimit(),
            ]);
            const [labelsOf, slidesOf] = [Object.fromEntries(labels), Object.fromEntries(slides)];
            return { items, labels: labelsOf, slides: slidesOf, generation: reader.generation, rows };
          })();
          counts.catch(() => this.counts.delete(reader)); // a failed count is not kept: the next call tries again
          this.counts.set(reader, counts);
        }
        return {
          location: store.location,
          ...(await counts),
          model: store.model,
          vectors: store.vectorKind,
          search: searcher.mode,
        };
      }),
    );
  }

  /**
   * @internal The server's reads that the calls above do not cover — items with the source they
   * were recorded under (a `path#region=` string, which `get` splits into path and box), a slide's
   * rows, every item and vector for the embedding map — against the reader the other calls use.
   */
  read<T>(read: (reader: Reader) => Promise<T>): Promise<T> {
    return this.run('read', () => this.reader.use(read));
  }

  /**
   * Retrieval figures (η_p, η_w, η_tot, Recall@k, mAP@10, majority vote…, as `histoseek eval --json`):
   * for the images of a query collection, or with the indexed items themselves, each leaving out
   * its own slide (`leaveOneOut`).
   */
  evaluate(
    o: { queries: string; layout?: Layout; labels?: string; k?: number } | { leaveOneOut: true; k?: number },
  ): Promise<RetrievalMetrics> {
    return this.run('evaluate', () => {
      const k = o.k ?? 10;
      checkK(k);
      return this.reader.use(async ({ store, searcher }) => {
        if ('leaveOneOut' in o) return (await evaluateLeaveOneOut(store, searcher, k)).metrics;
        const collection = await readCollection(o.queries, o.layout ?? 'folder', 'queries', { labels: o.labels });
        return (await evaluateQueries(store, searcher, this.opened.embedder, collection.items, k, 16)).metrics;
      });
    });
  }

  /**
   * Embeds with the index's model what the index lacks and stores it, batch by batch: the images
   * of a collection folder (resumable, like `histoseek index`), or items from an iterable or async
   * iterable (`{ image, path?, label?, slide?, patient?, box? }`). Later reads see them. Into a
   * PostgreSQL store, other processes may add to the same collection at once.
   */
  add(collection: string, o?: AddCollectionOptions): Promise<AddReport>;
  add(items: Iterable<AddItem> | AsyncIterable<AddItem>, o?: AddOptions): Promise<AddReport>;
  add(input: string | Iterable<AddItem> | AsyncIterable<AddItem>, o: AddCollectionOptions = {}): Promise<AddReport> {
    return this.run('add', () => {
      checkAddOptions(o);
      return this.writes.run(() =>
        typeof input === 'string' ? this.addCollection(input, o) : this.addItems(input, o),
      );
    });
  }

  private async addCollection(root: string, o: AddCollectionOptions): Promise<AddReport> {
    throwIfAborted(o.signal, `adding ${root}`); // before reading the folder: a slide collection takes a while to plan
    const collection = await readIndexCollection(root, o.layout ?? 'folder', {
      labels: o.labels,
      patches: o.patches,
      logger: this.logger,
      onSlide: o.onSlide,
    });
    noteBundledModel(this.opened.modelOptions, root, this.logger);
    const report = await this.withWriter((writer) =>
      embedItems(writer, this.opened.embedder, collection.root, collection.items, {
        ...this.embedOptions(o),
        leaseSeconds: o.leaseSeconds,
        onShared: o.onShared && ((stored, total, heldByOthers) => o.onShared!({ stored, total, heldByOthers })),
      }),
    );
    return {
      ...report,
      unreadableSlides: collection.skipped,
      withoutPatches: collection.withoutPatches,
      slides: itemsPerSlide(collection.items),
    };
  }

  private async addItems(items: Iterable<AddItem> | AsyncIterable<AddItem>, o: AddOptions): Promise<AddReport> {
    const report = await this.withWriter((writer) =>
      addItems(writer, this.opened.embedder, items, this.embedOptions(o)),
    );
    return { ...report, unreadableSlides: [], withoutPatches: [], slides: {} };
  }

  private embedOptions(o: AddOptions) {
    return {
      batch: o.batch ?? 16,
      onProgress: o.onProgress,
      signal: o.signal,
      onFailure: (f: { message: string }) => this.logger.warn(`skipped ${f.message}`),
    };
  }

  /** Runs `write` on the index opened for writing (a folder takes its writer lock until it is done), with the live count after. */
  private async withWriter<T extends object>(
    write: (writer: Awaited<ReturnType<typeof openStore>>) => Promise<T>,
  ): Promise<T & { live: number }> {
    const writer = await openStore(this.opened.db, { writable: true });
    try {
      assertIndexModel(writer, this.model);
      const done = await write(writer);
      return { ...done, live: await writer.liveCount() };
    } finally {
      await writer.close();
    }
  }

  /** Removes a slide's items, or those indexed from files under a folder; returns how many. */
  remove(filter: { slide: string } | { folder: string }): Promise<number> {
    return this.run('remove', () => {
      const slide = (filter as { slide?: unknown })?.slide;
      const folder = (filter as { folder?: unknown })?.folder;
      if (typeof slide !== 'string' && typeof folder !== 'string')
        throw new HistoseekError('BAD_OPTION', 'remove: give { slide } or { folder }');
      return this.writes.run(async () => {
        const writer = await openStore(this.opened.db, { writable: true });
        try {
          return await writer.remove(typeof slide === 'string' ? { slide } : { under: resolve(folder as string) });
        } finally {
          await writer.close();
        }
      });
    });
  }

  /** Closes the index and frees its model once the calls in progress have finished; later calls are CLOSED. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled(this.running);
      await this.reader.close();
      await this.opened.embedder.release();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs a call unless the index is closed (CLOSED), tracked so that close() waits for it. */
  private run<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new HistoseekError('CLOSED', `${what}: the index was closed`));
    const running = (async () => call())();
    this.running.add(running);
    void running.finally(() => this.running.delete(running)).catch(() => undefined);
    return running;
  }
}

/** BAD_QUERY unless `id` could be an item's id (a non-negative integer). */
function checkId(id: unknown): void {
  if (!Number.isSafeInteger(id) || (id as number) < 0)
    throw new HistoseekError('BAD_QUERY', `an item id is a non-negative integer, got ${String(id)}`);
}

/**
 * Creates an empty index at `db` for the model `o` names, unless one is there: then it opens with its
 * recorded model, unless `o` names the model (recordedModel: false) or the precision (vectors), which
 * must then be the index's.
 */
async function createIndex(db: string, o: OpenIndexOptions): Promise<void> {
  if (hasFolderIndex(db) && o.recordedModel !== false && o.vectors === undefined) return;
  const model = await resolveModel(o);
  const identity = modelIdentity(model, o.weights && resolve(o.weights), o);
  const store = await openOrCreateStore(db, identity, { vectors: o.vectors });
  await store.close();
}

/**
 * Opens an index — a folder, or postgres://USER@HOST:PORT/DB[?schema=NAME] — with the model it was
 * built with. No index there is NOT_FOUND (unless `create`); a model given that is not the index's is
 * WRONG_MODEL.
 */
export async function openIndex(db: string, o: OpenIndexOptions = {}): Promise<HistoseekIndex> {
  checkOpenOptions(o);
  if (o.create) await createIndex(db, o);
  const threads = o.threads ?? 2;
  const search = { mode: o.mode, candidates: o.candidates, threads };
  const opened = await openSearchableIndex(db, { ...o, threads, search });
  const first: Reader = { store: opened.store, searcher: opened.searcher, generation: await opened.store.generation() };
  const logger = o.logger ?? SILENT_LOGGER;
  const reader = new ReaderSlot(first, logger, async () => {
    const store = await openStore(db);
    try {
      assertIndexModel(store, opened.store.model);
      const generation = await store.generation();
      return { store, searcher: await store.openSearcher({ ...search, logger }), generation };
    } catch (err) {
      await store.close();
      throw err;
    }
  });
  return new HistoseekIndex(opened, reader, logger);
}
