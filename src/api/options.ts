/** Checks of the library's options at the call, so a wrong one is a BAD_OPTION naming it rather than a failure deep inside. */
import { isLayout } from '../collections/collection.js';
import { isVectorKind, SEARCH_MODES, VECTOR_KINDS } from '../store/types.js';
import { HistoseekError } from '../util/errors.js';

function bad(where: string, message: string): HistoseekError {
  return new HistoseekError('BAD_OPTION', `${where}: ${message}`);
}

/** BAD_OPTION unless `value` is undefined or a positive integer. */
export function checkPositiveInteger(where: string, name: string, value: unknown): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) > 0))
    throw bad(where, `${name} must be a positive integer, got ${String(value)}`);
}

/** BAD_OPTION unless `value` is undefined or a function. */
export function checkFunction(where: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') throw bad(where, `${name} must be a function`);
}

export function checkOpenOptions(o: {
  threads?: unknown;
  mode?: unknown;
  candidates?: unknown;
  logger?: unknown;
  vectors?: unknown;
}): void {
  const where = 'openIndex';
  checkPositiveInteger(where, 'threads', o.threads);
  checkPositiveInteger(where, 'candidates', o.candidates);
  if (o.mode !== undefined && !(SEARCH_MODES as readonly unknown[]).includes(o.mode))
    throw bad(where, `mode must be one of ${SEARCH_MODES.join(', ')}, got ${String(o.mode)}`);
  checkLogger(where, o.logger);
  if (o.vectors !== undefined && !(typeof o.vectors === 'string' && isVectorKind(o.vectors)))
    throw bad(where, `vectors must be one of ${VECTOR_KINDS.join(', ')}, got ${String(o.vectors)}`);
}

/** BAD_OPTION unless `logger` is undefined or has info and warn methods. */
export function checkLogger(where: string, logger: unknown): void {
  if (logger === undefined) return;
  const l = logger as { info?: unknown; warn?: unknown };
  if (typeof l.info !== 'function' || typeof l.warn !== 'function')
    throw bad(where, 'logger must have info(message) and warn(message) methods (a pino logger, console, …)');
}

export function checkAddOptions(o: {
  batch?: unknown;
  layout?: unknown;
  onProgress?: unknown;
  signal?: unknown;
  leaseSeconds?: unknown;
  onSlide?: unknown;
  onShared?: unknown;
}): void {
  const where = 'add';
  checkPositiveInteger(where, 'batch', o.batch);
  checkPositiveInteger(where, 'leaseSeconds', o.leaseSeconds);
  checkFunction(where, 'onProgress', o.onProgress);
  checkFunction(where, 'onSlide', o.onSlide);
  checkFunction(where, 'onShared', o.onShared);
  if (o.layout !== undefined && !(typeof o.layout === 'string' && isLayout(o.layout)))
    throw bad(where, `unknown layout ${String(o.layout)}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw bad(where, 'signal must be an AbortSignal');
}
