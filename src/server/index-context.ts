/**
 * The index as the server sees it: the model's embedder (fixed for the server's life) and a
 * "generation" — a read-only IndexStore with its Searcher — that is replaced when another process
 * changes the index. Every request compares the index's generation counter in SQLite (one indexed
 * read), which every append and removal advances, with its own; on a change one request opens the
 * next generation while the others wait for it, and the old one is closed once its last in-flight
 * request is done. Concurrent
 * searches and embeddings are batched (see Batcher).
 */
import { openIndex } from '../cli/index-model.js';
import { Searcher, type Hit, type SearchSettings } from '../index/searcher.js';
import { IndexStore, type ModelIdentity, type StoredItem, type VectorKind } from '../index/store.js';
import type { ProjectionMethod } from '../map/projection.js';
import { Batcher } from './batcher.js';
import { embeddingMap, mapRows, type MapJson } from './embedding-map.js';
import { QueryEmbedder } from './query-embedder.js';

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
  /** The index's generation counter when this generation was opened. */
  readonly number: number;
  private readonly maps = new Map<ProjectionMethod, Promise<MapJson>>();
  /** Counts scan the items table (millions of rows in an archive): once per generation. */
  private counts: { labels: Map<string, number>; slides: Map<string, number> } | null = null;
  /** Concurrent searches of this generation, batched into one matrix product. */
  readonly batcher: Batcher<SearchInput, Hit[]>;

  constructor(
    readonly store: IndexStore,
    readonly searcher: Searcher,
    /** 1 for live rows, 0 for removed ones. */
    readonly active: Uint8Array,
  ) {
    this.number = store.generation;
    const dim = store.model.dim;
    this.batcher = new Batcher(async (inputs) => {
      const queries = new Float32Array(inputs.length * dim);
      inputs.forEach((input, i) => queries.set(input.query, i * dim));
      const hits = await searcher.search(queries, inputs.length, { k: Math.max(...inputs.map((input) => input.k)) });
      return hits.map((ranked, i) => ranked.slice(0, inputs[i].k));
    }, SEARCH_BATCH);
  }

  get stale(): boolean {
    return this.store.generation !== this.number;
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
    this.store.close();
  }

  labelCounts(): Map<string, number> {
    this.counts ??= { labels: this.store.labelCounts(), slides: this.store.slideCounts() };
    return this.counts.labels;
  }

  slideCounts(): Map<string, number> {
    this.labelCounts();
    return this.counts!.slides;
  }

  /** The embedding map of this generation's live items, computed once per method. */
  map(method: ProjectionMethod): Promise<MapJson> {
    let map = this.maps.get(method);
    if (!map) {
      const rows = mapRows(this.active);
      const live = this.active.reduce((n, a) => n + a, 0);
      map = embeddingMap(method, rows, live, (row) => this.vector(row), (r) => this.store.items(r).map((item) => item.label), this.store.model.dim);
      // A failed computation is not kept: the next request tries again.
      map.catch(() => this.maps.delete(method));
      this.maps.set(method, map);
    }
    return map;
  }

  /** The stored (normalised) descriptor of a row: one positioned read, not the whole file. */
  vector(row: number): Float32Array {
    return this.store.vectors([row]);
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
  item(row: number): StoredItem | undefined;
  items(rows: number[]): StoredItem[];
  vector(row: number): Float32Array;
  labelCounts(): Map<string, number>;
  /** Live items per slide. */
  slideCounts(): Map<string, number>;
  /** The rows of one slide's live items. */
  slideRows(slide: string): number[];
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

  /** Opens the index and its model (see openIndex: --weights, else the checkpoint the index recorded). */
  static async open(db: string, o: { threads: number; weights?: string; search?: SearchSettings; log?: (message: string) => void }): Promise<IndexContext> {
    // openIndex resolves and checks the model; from here on this context owns its store and searcher.
    const search = o.search ?? {};
    const index = await openIndex(db, { threads: o.threads, weights: o.weights, search });
    const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const generation = new Generation(index.store, index.searcher, index.store.activeRows());
    try {
      return new IndexContext(db, await QueryEmbedder.create(index.embedder, o.threads, log), generation, o.threads, search, log);
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
    if (this.current.stale) await this.refresh();
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
        const store = IndexStore.open(this.db);
        try {
          store.assertModel(this.current.store.model);
          const searcher = await Searcher.open(store, { ...this.search, threads: this.threads });
          const old = this.current;
          this.current = new Generation(store, searcher, store.activeRows());
          this.log(`index ${this.db}: reopened at generation ${store.generation} with ${store.rows} rows`);
          await old.retire();
        } catch (err) {
          store.close();
          throw err;
        }
      } catch (err) {
        // Keep answering from the generation we have; the next request tries again.
        this.log(`index ${this.db}: cannot reopen (${err instanceof Error ? err.message : String(err)})`);
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
  const live = (item: StoredItem | undefined) => (item && g.active[item.row] ? item : undefined);
  return {
    rows: g.store.rows,
    generation: g.number,
    searchMode: g.searcher.mode,
    vectorKind: g.store.vectorKind,
    model: g.store.model,
    item: (row) => (row < g.active.length ? live(g.store.items([row])[0]) : undefined),
    items: (rows) => g.store.items(rows),
    vector: (row) => g.vector(row),
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
      const [hits] = await g.searcher.search(query, 1, { k, exclude: { groupOf: () => '', excludes: (_: string, row: number) => exclude.has(row) } });
      return hits;
    },
  };
}
