/**
 * The one error type histoseek's library throws for what a caller can act on: a stable `code` to
 * branch on, and the message the command line prints. Errors of histoseek's own bugs, and those of
 * Node.js itself, stay what they are.
 */

/** Every code a HistoseekError can carry; each is provoked by a test. */
export const ERROR_CODES = [
  /** The index was built with another model (weights, encoder or precision): the message names the right one. */
  'WRONG_MODEL',
  /** Another writer (in this process or another) holds the index: try again when it has finished. */
  'INDEX_LOCKED',
  /** A file of the index is missing, cut short or unreadable: the message names it and the fix. */
  'INDEX_DAMAGED',
  /** The index was made by an older histoseek and must be converted (`index --upgrade`) before this. */
  'INDEX_OUTDATED',
  /** No such index, item, slide, file or model. */
  'NOT_FOUND',
  /** An image that cannot be decoded, or raw pixels of the wrong size. */
  'BAD_IMAGE',
  /** A query of the wrong kind or width, or search options out of range. */
  'BAD_QUERY',
  /** An option or setting that is invalid, or two that cannot go together. */
  'BAD_OPTION',
  /** The caller's AbortSignal stopped the work; what was committed before it stays. */
  'ABORTED',
  /** The index or model was used after close(). */
  'CLOSED',
  /** A remote source (a PACS) did not answer, even after retries: what was committed stays; rerun once it is back. */
  'UNAVAILABLE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class HistoseekError extends Error {
  override readonly name = 'HistoseekError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Codes that say a source as a whole cannot be read now, not that one item is bad: a run over many
 * items stops on them, keeping what it committed, rather than record every remaining item as
 * unreadable (a PACS that went away, credentials it refused, the caller's stop).
 */
const RUN_STOPPING: ReadonlySet<ErrorCode> = new Set(['UNAVAILABLE', 'BAD_OPTION', 'ABORTED']);

/** True for an error that must stop a run over many items (see RUN_STOPPING). */
export function stopsTheRun(err: unknown): boolean {
  return err instanceof HistoseekError && RUN_STOPPING.has(err.code);
}

/** True for a HistoseekError, optionally of one code. */
export function isHistoseekError(err: unknown, code?: ErrorCode): err is HistoseekError {
  return err instanceof HistoseekError && (code === undefined || err.code === code);
}
