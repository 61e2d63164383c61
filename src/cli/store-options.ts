/** The options naming the index (--db) and how a new one stores its descriptors (--vectors). */
import { isVectorKind, VECTOR_KINDS, type VectorKind } from '../store/types.js';

export const DB_OPTIONS = {
  db: { type: 'string' },
} as const;

/** The usage line of `--db`, the same in every command that takes it. */
export const DB_USAGE = `  --db DB              the index: a folder, or a PostgreSQL store postgres://USER@HOST:PORT/DB[?schema=NAME]
                       (password from PGPASSWORD or ~/.pgpass; see docs/postgresql.md)
`;

/** The index `--db` names; a command that needs one shows its usage without it. */
export function requireDb(o: { db?: string }, usage: string): string {
  if (!o.db) throw new Error(`--db is required\n\n${usage}`);
  return o.db;
}

/** `--vectors`, if given: one of VECTOR_KINDS. */
export function parseVectorKind(value: string | undefined): VectorKind | undefined {
  if (value !== undefined && !isVectorKind(value))
    throw new Error(`--vectors must be one of ${VECTOR_KINDS.join(', ')}, got '${value}'`);
  return value;
}
