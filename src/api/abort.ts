/** A caller's AbortSignal, turned into histoseek's ABORTED error. */
import { HistoseekError } from '../util/errors.js';

/** Throws ABORTED when `signal` has fired; `what` says what stopped and what stays. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
  throw new HistoseekError('ABORTED', `${what}: aborted${why ? ` (${why})` : ''}`, { cause: reason });
}
