/** Argument helpers shared by the commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function positiveInt(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

export function optionalPositiveInt(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : positiveInt(value, 0, flag);
}

/** parseArgs with a usage text in its errors (`--help` is answered before a command runs). */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`, { cause: err });
  }
}

export const MODEL_OPTIONS = {
  weights: { type: 'string' },
  backbone: { type: 'string' },
  size: { type: 'string' },
} as const;

export const RUN_OPTIONS = {
  batch: { type: 'string' },
  threads: { type: 'string' },
} as const;

/** The usage line of `--db`, the same in every command that takes it. */
export const DB_USAGE = `  --db DB              the index: a folder, or a PostgreSQL store postgres://USER@HOST:PORT/DB[?schema=NAME]
                       (password from PGPASSWORD or ~/.pgpass; see docs/scale-out.md)
`;
