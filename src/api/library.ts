/**
 * histoseek as a library: load a model and embed images, open an index (a folder or a PostgreSQL
 * store) and search it. The command line is built on the same calls, so a script gets what
 * `histoseek search --json` prints.
 */
import { resolve } from 'node:path';
import type { Layout } from '../data/collections/collection.js';
import { ItemLoader } from '../data/collections/load.js';
import { readCollection } from '../data/collections/read.js';
import { embedAll } from '../engine/embed-images.js';
import { createEmbedder } from '../engine/embedders.js';
import type { RetrievalMetrics } from '../eval/metrics.js';
import { evaluateLeaveOneOut, evaluateQueries } from '../eval/run.js';
import { normaliseRows } from '../index/indexer.js';
import { openStore } from '../index/open-store.js';
import type { SearchMode } from '../index/searcher.js';
import type { ModelIdentity, VectorKind } from '../index/store.js';
import type { PatchSelection } from '../wsi/patch-selection.js';
import { searchImages, searchVectors, type SearchResult } from './image-search.js';
import { indexCollection, type IndexOutcome as IndexReport } from './index-collection.js';
import { modelIdentity, resolveModel, type ModelOptions } from './models.js';
import { openSearchableIndex, type SearchableIndex } from './searchable-index.js';

export type {
  IndexReport,
  Layout,
  ModelIdentity,
  ModelOptions,
  PatchSelection,
  RetrievalMetrics,
  SearchMode,
  SearchResult,
  VectorKind,
};

/** A loaded model, ready to embed images. */
export interface HistoseekModel {
  /** The model's identity: what an index records and checks. */
  readonly identity: ModelIdentity;
  /** Values per descriptor. */
  readonly dim: number;
  /** Images are resized to inputSize × inputSize. */
  readonly inputSize: number;
  /** The raw descriptors f_e of image files, one row of `dim` values each (images.length × dim); an unreadable image is an error naming it. */
  embed(images: string[]): Promise<Float32Array>;
  /** Frees the inference session. */
  close(): Promise<void>;
}

/**
 * Loads a model: `weights` (a .safetensors checkpoint), or the built-in model; with `o.encoder`
 * (an ONNX file, or a foundation model fetched with `histoseek weights pull`), that encoder's
 * features, or the checkpoint trained over it.
 * @param o.backbone a timm convnextv2_* backbone to put in, @param o.size the input side, @param o.threads inference threads (default 2)
 */
export async function loadModel(
  weights?: string,
  o: Omit<ModelOptions, 'weights'> & { threads?: number } = {},
): Promise<HistoseekModel> {
  const model = await resolveModel({ ...o, weights });
  const embedder = await createEmbedder(model, { threads: o.threads ?? 2 });
  const identity = modelIdentity(model, weights && resolve(weights), o);
  return {
    identity,
    dim: identity.dim,
    inputSize: identity.inputSize,
    async embed(images) {
      const loader = new ItemLoader();
      try {
        const embedded = await embedAll(
          embedder,
          images.map((p) => resolve(p)),
          8,
          (s, size) => loader.load(s, size),
        );
        if (embedded.failures.length) throw new Error(embedded.failures.map((f) => f.message).join('\n'));
        return embedded.raw;
      } finally {
        await loader.close();
      }
    },
    close: () => embedder.release(),
  };
}

export interface OpenIndexOptions extends ModelOptions {
  /** Inference and search threads (default 2). */
  threads?: number;
  /** `exact` scans every item; `two-stage` re-ranks graph candidates; `auto` (default) picks by size. */
  mode?: SearchMode;
  /** Two-stage: graph candidates per query, the nearest 100 of which (more for wide vectors or large k) are re-ranked exactly (default by size: 320 below 2 million items, 640 below 6 million, 2 560 from there, times d / 256 for vectors wider than 256; a PostgreSQL store's hnsw.ef_search: 160, 320, 640). */
  candidates?: number;
}

export interface SearchOptions {
  /** Results (default 10). */
  k?: number;
  /** Leave out this slide's items. */
  excludeSlide?: string;
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
}

/** An index opened for searching (read-only), with the model it was built with. */
export class HistoseekIndex {
  /** @internal use openIndex */
  constructor(
    private index: SearchableIndex,
    private readonly options: OpenIndexOptions,
  ) {}

  /**
   * The nearest indexed items to an image file, or to a descriptor (`dim` values; normalised here):
   * the same objects, in the same order, as `histoseek search --json` gives in `results`.
   */
  async search(query: string | Float32Array, o: SearchOptions = {}): Promise<SearchResult[]> {
    const settings = { k: o.k ?? 10, excludeSlide: o.excludeSlide };
    if (typeof query === 'string') return (await searchImages(this.index, [resolve(query)], settings))[0];
    const dim = this.index.store.model.dim;
    if (query.length !== dim)
      throw new Error(`search: a query descriptor of this index has ${dim} values, got ${query.length}`);
    return (await searchVectors(this.index, normaliseRows(query, dim), 1, settings))[0];
  }

  /** Counts, the model and how the index stores and searches. */
  async info(): Promise<IndexInfo> {
    const { store, searcher } = this.index;
    const [labels, slides, items] = await Promise.all([store.labelCounts(), store.slideCounts(), store.liveCount()]);
    return {
      location: store.location,
      items,
      labels: Object.fromEntries(labels),
      slides: Object.fromEntries(slides),
      model: store.model,
      vectors: store.vectorKind,
      search: searcher.mode,
    };
  }

  /**
   * Retrieval figures (η_p, η_w, η_tot, Recall@k, mAP@10, majority vote…, as `histoseek eval --json`):
   * for the images of a query collection, or with the indexed items themselves, each leaving out
   * its own slide (`leaveOneOut`).
   */
  async evaluate(
    o: { queries: string; layout?: Layout; labels?: string; k?: number } | { leaveOneOut: true; k?: number },
  ): Promise<RetrievalMetrics> {
    const { store, searcher, embedder } = this.index;
    const k = o.k ?? 10;
    if ('leaveOneOut' in o) return (await evaluateLeaveOneOut(store, searcher, k)).metrics;
    const collection = await readCollection(o.queries, o.layout ?? 'folder', 'queries', { labels: o.labels });
    return (await evaluateQueries(store, searcher, embedder, collection.items, k, 16)).metrics;
  }

  /**
   * Embeds the images of a collection folder that the index lacks and stores them (resumable, like
   * `histoseek index`); later searches see them. Into a PostgreSQL store, other processes may add
   * to the same collection at once.
   */
  async add(
    collection: string,
    o: { layout?: Layout; labels?: string; patches?: PatchSelection; batch?: number } = {},
  ): Promise<IndexReport> {
    const report = await indexCollection({
      ...this.index.modelOptions,
      root: collection,
      layout: o.layout ?? 'folder',
      labels: o.labels,
      patches: o.patches,
      db: this.index.db,
      batch: o.batch ?? 16,
      threads: this.options.threads ?? 2,
      quiet: true,
    });
    await this.reopen();
    return report;
  }

  /** Removes a slide's items, or those indexed from files under a folder; returns how many (the index must not be open for writing elsewhere). */
  async remove(filter: { slide: string } | { folder: string }): Promise<number> {
    const writer = await openStore(this.index.db, { writable: true });
    try {
      return await writer.remove('slide' in filter ? { slide: filter.slide } : { under: resolve(filter.folder) });
    } finally {
      await writer.close();
      await this.reopen();
    }
  }

  /** Opens the index anew, so that searches see what changed. */
  private async reopen(): Promise<void> {
    const next = await openIndex(this.index.db, this.options);
    await this.index.close();
    this.index = next.index;
  }

  async close(): Promise<void> {
    await this.index.close();
  }
}

/** Opens an index — a folder, or postgres://USER@HOST:PORT/DB[?schema=NAME] — with the model it was built with. */
export async function openIndex(db: string, o: OpenIndexOptions = {}): Promise<HistoseekIndex> {
  return new HistoseekIndex(
    await openSearchableIndex(db, {
      ...o,
      threads: o.threads ?? 2,
      search: { mode: o.mode, candidates: o.candidates },
    }),
    o,
  );
}
