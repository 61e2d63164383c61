/**
 * What the main thread and a search worker (search-worker.ts, worker-searcher.ts) send each other.
 * Everything is plain data for structured cloning; hits travel packed in typed arrays (transferred,
 * not copied), errors as their message and HistoseekError code, re-created on the main side, and
 * the model cache's notes as their level and text, for the main side's logger (a logger's methods
 * cannot cross threads).
 */
import { ERROR_CODES, type ErrorCode, HistoseekError } from '../../util/errors.js';
import type { Exclusion, Hit, SearchSettings } from '../types.js';

/** The worker's `workerData`: the index folder and the snapshot of live rows it must answer from. */
export interface SearchWorkerData {
  dir: string;
  settings: SearchSettings & { threads?: number };
  /** 1 for each row live when the main side opened the searcher (see FolderIndex.activeRows). */
  active: Uint8Array;
}

export interface ErrorData {
  message: string;
  code?: ErrorCode;
}

export interface HitsData {
  /** Hits per query. */
  counts: Int32Array;
  rows: Int32Array;
  distances: Float32Array;
}

export type ToWorker =
  { type: 'search'; queries: Float32Array; n: number; k: number; exclude?: Exclusion } | { type: 'release' };

/** A note the worker's searcher made (the model cache's, while opening), for the main side's logger. */
export interface NoteData {
  type: 'note';
  level: 'info' | 'warn';
  text: string;
}

export type FromWorker =
  | { type: 'ready'; mode: 'exact' | 'two-stage' }
  | NoteData
  | { type: 'failed'; error: ErrorData }
  | { type: 'hits'; hits: HitsData }
  | { type: 'error'; error: ErrorData };

export function errorData(err: unknown): ErrorData {
  const message = err instanceof Error ? err.message : String(err);
  return err instanceof HistoseekError ? { message, code: err.code } : { message };
}

/** The worker's error as the main thread throws it: a HistoseekError of the same code, or a plain Error. */
export function reviveError(data: ErrorData): Error {
  return data.code && (ERROR_CODES as readonly string[]).includes(data.code)
    ? new HistoseekError(data.code, data.message)
    : new Error(data.message);
}

export function packHits(hits: Hit[][]): HitsData {
  const total = hits.reduce((n, ranked) => n + ranked.length, 0);
  const packed = {
    counts: Int32Array.from(hits, (ranked) => ranked.length),
    rows: new Int32Array(total),
    distances: new Float32Array(total),
  };
  let i = 0;
  for (const ranked of hits)
    for (const hit of ranked) {
      packed.rows[i] = hit.row;
      packed.distances[i++] = hit.distance;
    }
  return packed;
}

export function unpackHits({ counts, rows, distances }: HitsData): Hit[][] {
  let i = 0;
  return Array.from(counts, (count) =>
    Array.from({ length: count }, () => ({ row: rows[i], distance: distances[i++] })),
  );
}
