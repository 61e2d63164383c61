/**
 * The one store interface every command, the server and the library use: an index of items
 * (metadata + one normalised descriptor each) that can be appended to, removed from and searched.
 * Two implementations: FolderStore, a local folder (folder/: SQLite, vector files and an HNSW
 * graph), and PostgresStore, PostgreSQL with pgvector (postgres/). open-store.ts picks one from
 * `--db`. Its vocabulary is in types.ts.
 *
 * Items are addressed by `row`: a non-negative integer that never changes and is never reused.
 */
import { HistoseekError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type {
  Exclusion,
  Hit,
  ItemRecord,
  ModelIdentity,
  SearchOptions,
  SearchSettings,
  StoredItem,
  VectorKind,
} from './types.js';

/** How to open a searcher: the settings, inference threads, and who hears the model cache's notes (default: stderr). */
export type SearcherOptions = SearchSettings & { threads?: number; logger?: Logger };

/** Answers queries against a store as it was when the searcher was opened (a snapshot for the folder store). */
export interface ItemSearcher {
  /** How it answers: a scan of every item, or an approximate first pass re-ranked (or, in PostgreSQL, pgvector's HNSW). */
  readonly mode: 'exact' | 'two-stage';
  /** Ranked live hits for each of `n` normalised query vectors (n × dim values). */
  search(queries: Float32Array, n: number, o: SearchOptions): Promise<Hit[][]>;
  release(): Promise<void>;
}

export interface ItemStore {
  /** Where it is: the folder, or the PostgreSQL URL without its password. */
  readonly location: string;
  readonly model: ModelIdentity;
  /** The stored precision of the descriptors. */
  readonly vectorKind: VectorKind;
  /** Throws unless `model` is the model this store was built with (the error names both). */
  assertModel(model: Pick<ModelIdentity, 'id' | 'hash'>): void;
  /** Advances on every append and removal, by any process: a reader whose number differs is out of date. */
  generation(): Promise<number>;
  /** Live items. */
  liveCount(): Promise<number>;
  /** One more than the largest row ever stored (rows below it may be removed). */
  rowLimit(): Promise<number>;
  /** Those of `sources` (or all, when omitted) held by a live item: a rerun skips them. */
  storedSources(sources?: string[]): Promise<Set<string>>;
  /** Appends a batch: unit vectors (n × dim, one item per row) and each descriptor's norm ‖f_e‖. Items whose source is already stored are skipped. */
  append(items: ItemRecord[], normalised: Float32Array, norms: Float32Array): Promise<void>;
  recordFailure(source: string, reason: string): Promise<void>;
  failures(): Promise<{ source: string; reason: string }[]>;
  /** Removes the items of a slide, or of the files under a folder; returns how many. */
  remove(filter: { slide?: string; under?: string }): Promise<number>;
  /** The live items of `rows`, in order; undefined for a row that is unknown or removed. */
  items(rows: number[]): Promise<(StoredItem | undefined)[]>;
  /** Every live item, by row. */
  allItems(): Promise<StoredItem[]>;
  labelCounts(): Promise<Map<string, number>>;
  /** Live items per slide (items without a slide left out). */
  slideCounts(): Promise<Map<string, number>>;
  /** The rows of one slide's live items. */
  slideRows(slide: string): Promise<number[]>;
  /** Normalised descriptors of `rows` at the stored precision, decoded (rows.length × dim). */
  vectors(rows: number[]): Promise<Float32Array>;
  openSearcher(settings?: SearcherOptions): Promise<ItemSearcher>;
  /** Claims for indexing from several processes at once; null where one writer at a time is the rule (a folder). */
  workClaims(): WorkClaims | null;
  close(): Promise<void>;
}

/**
 * How concurrent indexers share a collection: it is cut into units (a slide, or a run of images),
 * and a worker works only on a unit it has claimed. A claim is a committed lease row, renewed while
 * the worker lives; a unit whose lease ran out (its worker died) can be claimed by another. Claims
 * are never locks held for the length of the work, so they behave the same on any PostgreSQL
 * (PGlite included, which runs every client in one session).
 */
export interface WorkClaims {
  /** This worker's name (host:pid). */
  readonly worker: string;
  /** Takes `unit` for `leaseSeconds` if nobody holds a live lease on it (or this worker does); true when taken. */
  claim(unit: string, leaseSeconds: number): Promise<boolean>;
  /** Extends every lease this worker holds. */
  renew(leaseSeconds: number): Promise<void>;
  release(unit: string): Promise<void>;
  /** Units other workers hold a live lease on. */
  heldByOthers(): Promise<number>;
}

/** The queries of each group and the rows they exclude: one group of every query when nothing is excluded. */
export function exclusionGroups(
  n: number,
  exclude?: Exclusion,
): { queries: number[]; excluded: ReadonlySet<number> }[] {
  if (!exclude) return [{ queries: Array.from({ length: n }, (_, q) => q), excluded: new Set() }];
  const { rows, groupOf } = exclude;
  if (groupOf && groupOf.length !== n)
    throw new HistoseekError('BAD_QUERY', `search: ${n} queries need ${n} exclusion groups, got ${groupOf.length}`);
  const queries = rows.map((): number[] => []);
  for (let q = 0; q < n; q++) {
    const group = groupOf?.[q] ?? 0;
    if (!Number.isInteger(group) || group < 0 || group >= rows.length)
      throw new HistoseekError(
        'BAD_QUERY',
        `search: query ${q}'s exclusion group ${group} is not one of the ${rows.length} given`,
      );
    queries[group].push(q);
  }
  return queries.flatMap((group, g) => (group.length ? [{ queries: group, excluded: new Set(rows[g]) }] : []));
}

/** Live items with their hits' distances; hits whose item went away meanwhile are dropped. */
export async function hitItems(store: ItemStore, hits: Hit[]): Promise<(StoredItem & { distance: number })[]> {
  const items = await store.items(hits.map((h) => h.row));
  return items.flatMap((item, i) => (item ? [{ ...item, distance: hits[i].distance }] : []));
}
