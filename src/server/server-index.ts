/**
 * The index as the server uses it: a library index (openIndex) — its model, its searches, and its
 * reader, which follows the index's generation (every append and removal, here or in another
 * process, advances it; the next request reads the new state) — with concurrent searches grouped
 * into one searchBatch (see Batcher): their images embedded together and searched in one matrix
 * product.
 *
 * The HTTP API's `path`, and what thumbnails read, is the source an item was recorded under: a
 * slide patch's `path#region=…`, or a file recorded with a box of its own. The library's `get` and
 * results split that into path and box, and the source cannot always be rebuilt from them, so
 * items — with a slide's rows and the embedding map's items and vectors, which the library does
 * not list — are read through the library's reader (`read`), the one its searches use.
 */
import {
  openIndex,
  type HistoseekIndex,
  type IndexInfo,
  type Logger,
  type Query,
  type SearchResult,
} from '../api/library.js';
import type { MapJson } from '../api/schemas.js';
import type { Precision } from '../model/types.js';
import type { ModelIdentity, SearchSettings, StoredItem } from '../store/types.js';
import type { ProjectionMethod } from '../map/projection.js';
import { Batcher } from './batcher.js';
import { embeddingMap, mapRows } from './embedding-map.js';

/** Queries searched in one searchBatch at most. */
const SEARCH_BATCH = 32;
/**
 * Exclusions up to this many rows are applied after a batched search for k + |excluded| (exact:
 * at least k of those survive); larger ones (a whole slide) go to the library's own slide exclusion.
 */
const FILTER_AFTER = 256;

interface SearchJob {
  query: Query;
  k: number;
  exclude: ReadonlySet<number>;
}

/** What a search leaves out. */
export interface Exclusion {
  /** A slide, with its live items' rows. */
  slide?: { name: string; rows: readonly number[] };
  /** The query item. */
  item?: number;
}

export type FoundItem = StoredItem & { distance: number };

export class ServerIndex {
  /** Concurrent searches, batched; each job's items with its exclusions dropped. */
  private readonly batcher: Batcher<SearchJob, FoundItem[]>;
  /** The embedding maps of one generation, computed once per method. */
  private maps: { generation: number; byMethod: Map<ProjectionMethod, Promise<MapJson>> } = {
    generation: -1,
    byMethod: new Map(),
  };

  private constructor(private readonly index: HistoseekIndex) {
    this.batcher = new Batcher(async (jobs) => {
      const k = Math.max(...jobs.map((job) => job.k + job.exclude.size));
      const ranked = await index.searchBatch(
        jobs.map((job) => job.query),
        { k },
      );
      return this.withSources(
        ranked.map((results, i) => results.filter((r) => !jobs[i].exclude.has(r.id)).slice(0, jobs[i].k)),
      );
    }, SEARCH_BATCH);
  }

  /** The stored items of each list of hits, with their distances, in one read; items removed meanwhile are dropped. */
  private withSources(lists: SearchResult[][]): Promise<FoundItem[][]> {
    return this.index.read(async ({ store }) => {
      const items = await store.items(lists.flat().map((hit) => hit.id));
      let next = 0;
      return lists.map((hits) =>
        hits.flatMap((hit) => {
          const item = items[next++];
          return item ? [{ ...item, distance: hit.distance }] : [];
        }),
      );
    });
  }

  /** Opens the index and its model (--weights, else the checkpoint the index recorded); `logger` hears the library's notes. */
  static async open(
    db: string,
    o: {
      threads: number;
      weights?: string;
      encoder?: string;
      precision?: Precision;
      search?: SearchSettings;
      logger: Logger;
    },
  ): Promise<ServerIndex> {
    const { threads, weights, encoder, precision, logger } = o;
    const index = await openIndex(db, { threads, weights, encoder, precision, logger, ...o.search });
    return new ServerIndex(index);
  }

  get model(): ModelIdentity {
    return this.index.model;
  }

  /** Counts, the model, how the index is searched, and the generation they were read at. */
  info(): Promise<IndexInfo> {
    return this.index.info();
  }

  /** A live item, or undefined for an unknown or removed row. */
  item(id: number): Promise<StoredItem | undefined> {
    return this.index.read(async ({ store }) => (await store.items([id]))[0]);
  }

  /** A live item's stored descriptor, or undefined. */
  vector(id: number): Promise<Float32Array | undefined> {
    return this.index.vector(id);
  }

  /** The rows of one slide's live items. */
  slideRows(slide: string): Promise<number[]> {
    return this.index.read(({ store }) => store.slideRows(slide));
  }

  /**
   * The k nearest live items to a query (raw pixels of the model's input size, or a descriptor)
   * without the excluded ones (`excluded`: how many rows that is); items removed meanwhile are dropped.
   */
  async search(query: Query, k: number, exclude: Exclusion): Promise<{ items: FoundItem[]; excluded: number }> {
    const rows = new Set(exclude.slide?.rows);
    if (exclude.item !== undefined) rows.add(exclude.item);
    const { slide } = exclude;
    if (slide === undefined || slide.rows.length <= FILTER_AFTER)
      return { items: await this.batcher.submit({ query, k, exclude: rows }), excluded: rows.size };
    // The library leaves the slide out; the query item, if it is elsewhere, is dropped here (hence k + 1).
    const ranked = await this.index.search(query, { k: k + 1, excludeSlide: slide.name });
    const [items] = await this.withSources([ranked.filter((r) => !rows.has(r.id)).slice(0, k)]);
    return { items, excluded: rows.size };
  }

  /** The embedding map of the index's live items, computed once per generation and method. */
  map(method: ProjectionMethod): Promise<MapJson> {
    return this.index.read(async ({ store, generation }) => {
      if (this.maps.generation !== generation) this.maps = { generation, byMethod: new Map() };
      const maps = this.maps.byMethod;
      let map = maps.get(method);
      if (!map) {
        // The library offers no whole-index listing, so the map reads every item and the sample's vectors from its reader's store.
        map = (async () => {
          const items = await store.allItems();
          const rows = mapRows(items.map((item) => item.row));
          const labelOf = new Map(items.map((item) => [item.row, item.label]));
          return embeddingMap(
            method,
            rows,
            rows.map((row) => labelOf.get(row)!),
            items.length,
            await store.vectors(rows),
            store.model.dim,
          );
        })();
        // A failed computation is not kept: the next request tries again.
        map.catch(() => maps.delete(method));
        maps.set(method, map);
      }
      return map;
    });
  }

  close(): Promise<void> {
    return this.index.close();
  }
}
