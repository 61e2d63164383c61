/** How a command runs the model: images per batch (--batch) and inference threads (--threads). */
import { positiveInt, usageRow } from './args.js';

/** Inference threads unless --threads says otherwise, the same in every command. */
export const DEFAULT_THREADS = 2;

export const RUN_OPTIONS = {
  batch: { type: 'string' },
  threads: { type: 'string' },
} as const;

/** The usage row of --batch; each command has its own default (see its parseBatch call). */
export function batchUsage(defaultBatch: number, column?: number): string {
  return usageRow('--batch N', `images per batch (default ${defaultBatch})`, column);
}

export function threadsUsage(column?: number): string {
  return usageRow('--threads N', `inference threads (default ${DEFAULT_THREADS})`, column);
}

export function parseBatch(value: string | undefined, defaultBatch: number): number {
  return positiveInt(value, defaultBatch, '--batch');
}

export function parseThreads(value: string | undefined): number {
  return positiveInt(value, DEFAULT_THREADS, '--threads');
}

/** --batch, then --threads. */
export function parseRunOptions(
  o: { batch?: string; threads?: string },
  defaultBatch: number,
): { batch: number; threads: number } {
  return { batch: parseBatch(o.batch, defaultBatch), threads: parseThreads(o.threads) };
}
