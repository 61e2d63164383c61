/**
 * The store's vocabulary, shared by its interface (item-store.ts), both stores and their callers:
 * the model a store was built with, an item and its stored form, the stored precisions, and how a
 * search is asked for and answered.
 */

/**
 * The model an index was built with, as both stores record it: the same entries in the folder's
 * SQLite and in PostgreSQL's meta table.
 */
export interface ModelIdentity {
  /** Human-readable: the checkpoint path or the built-in model's description. */
  id: string;
  hash: string;
  /** The checkpoint file, when the model came from one (lets search load the same model). */
  weightsPath?: string;
  /** The encoder the model runs (an ONNX file's path or a pulled foundation model's name), so later commands find it. */
  encoder?: string;
  /** The options the encoder was given (its input's normalisation, the tensors taken), as JSON. */
  encoderOptions?: string;
  /** The licence of the encoder's weights, when it has one on record. */
  licence?: string;
  dim: number;
  inputSize: number;
}

/** An item as it is stored: its key's string form (collections/item-key.ts) and its metadata. */
export interface ItemRecord {
  source: string;
  label: string;
  slide?: string | null;
  patient?: string | null;
  /** Level-0 box of a slide patch. */
  x?: number | null;
  y?: number | null;
  width?: number | null;
  height?: number | null;
  /** The collection root (or slide folder) the item was indexed from. */
  collection?: string | null;
}

/** A stored item and its row: a non-negative integer that never changes and is never reused. */
export interface StoredItem extends ItemRecord {
  row: number;
}

/**
 * How an index stores its unit descriptors: float32, float16, or int8 with one float32 scale per
 * row (the row's largest |component| maps to 127, so every row uses the whole int8 range).
 */
export const VECTOR_KINDS = ['f32', 'f16', 'i8'] as const;
export type VectorKind = (typeof VECTOR_KINDS)[number];

export function isVectorKind(value: string): value is VectorKind {
  return (VECTOR_KINDS as readonly string[]).includes(value);
}

/** f16: rankings indistinguishable from float32 at half the bytes (see docs/performance.md). */
export const DEFAULT_VECTOR_KIND: VectorKind = 'f16';

export interface CreateOptions {
  /** Stored precision of the descriptors (default DEFAULT_VECTOR_KIND); fixed when the store is created. */
  vectors?: VectorKind;
}

export interface Hit {
  row: number;
  /** Squared L2 between unit vectors: 2 − 2·cosine. */
  distance: number;
}

/**
 * Rows queries must not return (their own slide, say), besides removed items. Queries of the same
 * group share their exclusions, so they are searched together in one batch. Plain data rather than
 * callbacks, so that it crosses to the search worker thread (folder/worker-searcher.ts).
 */
export interface Exclusion {
  /** The rows each group of queries must not return. */
  rows: readonly (readonly number[])[];
  /** Each query's group, an index into `rows`; every query is in group 0 when omitted. */
  groupOf?: readonly number[];
}

export interface SearchOptions {
  k: number;
  exclude?: Exclusion;
}

/** `exact` scans every row; `two-stage` needs the graph; `auto` picks by size. */
export const SEARCH_MODES = ['auto', 'exact', 'two-stage'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

/**
 * From this many live items on, `auto` searches in two stages: below it an exact scan of every
 * stored row is fast enough, above it the scan grows with the archive while two stages read only
 * the candidates they re-rank.
 */
export const TWO_STAGE_MIN_ROWS = 50_000;

/** How a searcher answers: the mode, and in two-stage search the candidates re-ranked per query. */
export interface SearchSettings {
  mode?: SearchMode;
  candidates?: number;
}
