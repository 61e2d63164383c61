/**
 * The one store interface every command, the server and the library use: an index of items
 * (metadata + one normalised descriptor each) that can be appended to, removed from and searched.
 * Two implementations: a local folder (folder-store.ts over store.ts: SQLite, vector files and an
 * HNSW graph) and PostgreSQL with pgvector (postgres/postgres-store.ts). open-store.ts picks one
 * from `--db`.
 *
 * Items are addressed by `row`: a non-negative integer that never changes and is never reused.
 */
import type { Exclusion, Hit, SearcherOptions } from './searcher.js';
import type { ItemRecord, ModelIdentity, StoredItem, VectorKind } from './store.js';
import type { WorkClaims } from './work-claims.js';

/** Answers queries against a store as it was when the searcher was opened (a snapshot for the folder store). */
export interface ItemSearcher {
  /** How it answers: a scan of every item, or an approximate first pass re-ranked (or, in PostgreSQL, pgvector's HNSW). */
  readonly mode: 'exact' | 'two-stage';
  /** Ranked live hits for each of `n` normalised query vectors (n × dim values). */
  search(queries: Float32Array, n: number, o: { k: number; exclude?: Exclusion }): Promise<Hit[][]>;
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

/** Live items with their hits' distances; hits whose item went away meanwhile are dropped. */
export async function hitItems(store: ItemStore, hits: Hit[]): Promise<(StoredItem & { distance: number })[]> {
  const items = await store.items(hits.map((h) => h.row));
  return items.flatMap((item, i) => (item ? [{ ...item, distance: hits[i].distance }] : []));
}
