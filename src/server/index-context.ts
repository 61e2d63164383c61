/**
 * The index as the server sees it: the model's embedder (fixed for the server's life) and a
 * "generation" — a store opened for reading with its searcher — that is replaced when another
 * process changes the index. Every request compares the store's generation counter (one indexed
 * read in SQLite or PostgreSQL), which every append and removal advances, with its own; on a change
 * one request opens the next generation while the others wait for it, and the old one is closed
 * once its last in-flight request is done. Concurrent searches and embeddings are batched (see Batcher).
 */
import type { Precision } from '../model/identity.js';
import { openSearchableIndex } from '../api/searchable-index.js';
import { hitItems, type ItemSearcher, type ItemStore } from '../index/item-store.js';
import { openStore, redactUrl } from '../index/open-store.js';
import type { Hit, SearchSettings } from '../index/searcher.js';
import type { ModelIdentity, StoredItem, VectorKind } from '../index/store.js';
import type { ProjectionMethod } from '../map/projection.js';
import { Batcher } from './batcher.js';
import { embeddingMap, mapRows } from './embedding-map.js';
import { QueryEmbedder } from './query-embedder.js';
import type { MapJson } from '../api/schemas.js';

/** Queries searched in one matrix product at most. */
const SEARCH_BATCH = 32;
/**
 * Exclusions up to this many rows are applied after a batched search for k + |excluded| (exact:
 * at least k of those survive); larger ones (a whole slide) go to the searcher's own exclusion path.
 */
const FILTER_AFTER = 256;

interface SearchInput {
  query: Float32Array;
  k: number;
}

class Generation {
  private users = 0;
  private retired = false;
  private readonly maps = new Map<ProjectionMethod, Promise<MapJson>>();
  /** Counts scan the items (millions of rows in an archive): once per generation. */
  private counts: Promise<{ labels: Map<string, number>; slides: Map<string, number> }> | null = null;
  /** Concurrent searches of this generation, batched into one matrix product. */
  readonly batcher: Batcher<SearchInput, Hit[]>;

  constructor(
    readonly store: ItemStore,
    readonly searcher: ItemSearcher,
    /** The store's generation counter when this generation was opened. */
    readonly number: number,
    /** One more than the largest row when opened. */
    readonly rows: number,
  ) {
    const dim = store.model.dim;
    this.batcher = new Batcher(async (inputs) => {
      const queries = new Float32Array(inputs.length * dim);
      inputs.forEach((input, i) => queries.set(input.query, i * dim));
      const hits = await searcher.search(queries, inputs.length, { k: Math.max(...inputs.map((input) => input.k)) });
      return hits.map((ranked, i) => ranked.slice(0, inputs[i].k));
    }, SEARCH_BATCH);
  }

  static async open(store: ItemStore, searcher: ItemSearcher): Promise<Generation> {
    return new Generation(store, searcher, await store.generation(), await store.rowLimit());
  }

  async stale(): Promise<boolean> {
    return (await this.store.generation()) !== this.number;
  }

  acquire(): void {
    this.users++;
  }

  async release(): Promise<void> {
    this.users--;
    if (this.retired && this.users === 0) await this.close();
  }

  async retire(): Promise<void> {
    this.retired = true;
    if (this.users === 0) await this.close();
  }

  private async close(): Promise<void> {
    await this.searcher.release();
    await this.store.close();
  }

  private countsOnce() {
    this.counts ??= Promise.all([this.store.labelCounts(), this.store.slideCounts()]).then(([labels, slides]) => ({
      labels,
      slides,
    }));
    return this.counts;
  }

  async labelCounts(): Promise<Map<string, number>> {
    return (await this.countsOnce()).labels;
  }

  async slideCounts(): Promise<Map<string, number>> {
    return (await this.countsOnce()).slides;
  }

  /** The embedding map of this generation's live items, computed once per method. */
  map(method: ProjectionMethod): Promise<MapJson> {
    let map = this.maps.get(method);
    if (!map) {
      map = (async () => {
        const items = await this.store.allItems();
        const rows = mapRows(items.map((item) => item.row));
        const labelOf = new Map(items.map((item) => [item.row, item.label]));
        return embeddingMap(
          method,
          rows,
          rows.map((row) => labelOf.get(row)!),
          items.length,
          await this.store.vectors(rows),
          this.store.model.dim,
        );
      })();
      // A failed computation is not kept: the next request tries again.
      map.catch(() => this.maps.delete(method));
      this.maps.set(method, map);
    }
    return map;
  }
}

/** What a request handler may do with the index of the moment. */
export interface IndexView {
  readonly rows: number;
  /** The index's generation counter this view answers from. */
  readonly generation: number;
  readonly searchMode: 'exact' | 'two-stage';
  readonly vectorKind: VectorKind;
  readonly model: ModelIdentity;
  /** A live item, or undefined for an unknown or removed row. */
  item(row: number): Promise<StoredItem | undefined>;
  /** Live items with their hits' distances (hits whose item went away meanwhile dropped). */
  hitItems(hits: Hit[]): Promise<(StoredItem & { distance: number })[]>;
  vector(row: number): Promise<Float32Array>;
  labelCounts(): Promise<Map<string, number>>;
  /** Live items per slide. */
  slideCounts(): Promise<Map<string, number>>;
  /** The rows of one slide's live items. */
  slideRows(slide: string): Promise<number[]>;
  map(method: ProjectionMethod): Promise<MapJson>;
  /** The k nearest live items to one normalised query vector, without `exclude`d rows. */
  search(query: Float32Array, k: number, exclude?: ReadonlySet<number>): Promise<Hit[]>;
}

export class IndexContext {
  private refreshing: Promise<void> | null = null;

  private constructor(
    readonly db: string,
    private readonly queries: QueryEmbedder,
    private current: Generation,
    private readonly threads: number,
    private readonly search: SearchSettings,
    private readonly log: (message: string) => void,
  ) {}

  /** The side S of the model's S × S input. */
  get inputSize(): number {
    return this.queries.inputSize;
  }

  /** The normalised descriptor of one preprocessed image (3 × S × S, see normalizeInto). */
  embed(input: Float32Array): Promise<Float32Array> {
    return this.queries.embed(input);
  }

  /** Opens the index and its model (see openSearchableIndex: --weights, else the checkpoint the index recorded). */
  static async open(
    db: string,
    o: {
      threads: number;
      weights?: string;
      encoder?: string;
      precision?: Precision;
      search?: SearchSettings;
      log?: (message: string) => void;
    },
  ): Promise<IndexContext> {
    // openSearchableIndex resolves and checks the model; from here on this context owns its store and searcher.
    const search = o.search ?? {};
    const index = await openSearchableIndex(db, {
      threads: o.threads,
      weights: o.weights,
      encoder: o.encoder,
      precision: o.precision,
      search,
    });
    const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    try {
      const generation = await Generation.open(index.store, index.searcher);
      return new IndexContext(
        db,
        await QueryEmbedder.create(index.embedder, o.threads, log),
        generation,
        o.threads,
        search,
        log,
      );
    } catch (err) {
      await index.close();
      throw err;
    }
  }

  get model(): ModelIdentity {
    return this.current.store.model;
  }

  /** Runs `fn` against the current generation, refreshed first if the index grew. */
  async use<T>(fn: (view: IndexView) => Promise<T> | T): Promise<T> {
    if (await this.current.stale()) await this.refresh();
    const g = this.current;
    g.acquire();
    try {
      return await fn(view(g));
    } finally {
      await g.release();
    }
  }

  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const store = await openStore(this.db);
        try {
          store.assertModel(this.current.store.model);
          const searcher = await store.openSearcher({ ...this.search, threads: this.threads });
          const old = this.current;
          this.current = await Generation.open(store, searcher);
          this.log(
            `index ${store.location}: reopened at generation ${this.current.number} with ${this.current.rows} rows`,
          );
          await old.retire();
        } catch (err) {
          await store.close();
          throw err;
        }
      } catch (err) {
        // Keep answering from the generation we have; the next request tries again.
        this.log(`index ${redactUrl(this.db)}: cannot reopen (${err instanceof Error ? err.message : String(err)})`);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  async close(): Promise<void> {
    await this.refreshing;
    await this.current.retire();
    await this.queries.release();
  }
}

function view(g: Generation): IndexView {
  return {
    rows: g.rows,
    generation: g.number,
    searchMode: g.searcher.mode,
    vectorKind: g.store.vectorKind,
    model: g.store.model,
    item: async (row) => (await g.store.items([row]))[0],
    hitItems: (hits) => hitItems(g.store, hits),
    vector: (row) => g.store.vectors([row]),
    labelCounts: () => g.labelCounts(),
    slideCounts: () => g.slideCounts(),
    slideRows: (slide) => g.store.slideRows(slide),
    map: (method) => g.map(method),
    async search(query, k, exclude) {
      if (!exclude?.size) return g.batcher.submit({ query, k });
      if (exclude.size <= FILTER_AFTER) {
        const hits = await g.batcher.submit({ query, k: k + exclude.size });
        return hits.filter((h) => !exclude.has(h.row)).slice(0, k);
      }
      const [hits] = await g.searcher.search(query, 1, { k, exclude: { rows: [[...exclude]] } });
      return hits;
    },
  };
}
