/**
 * A batch of nearest-neighbour queries as one message to PostgreSQL: one round trip per batch
 * instead of BEGIN / SET LOCAL / SELECT / COMMIT per query.
 *
 * - The settings and the SELECT travel as one simple-protocol query. PostgreSQL runs the
 *   statements of such a message as one implicit transaction block, so `SET LOCAL` holds for the
 *   SELECT and ends with it, leaving pooled (and PGlite's shared) sessions as they were. The simple
 *   protocol takes no parameters, so the query vectors are inlined: pgvector's own text form
 *   (`toSql`: numbers only) and integers we checked, nothing a caller wrote.
 * - One `UNION ALL` branch per query vector (pgvector's advice for several queries): each branch is
 *   the single-query statement with a constant vector, so it keeps the HNSW index scan, and in an
 *   exact search the server may still run each scan in parallel workers (a LATERAL join over the
 *   query vectors cannot: its scans depend on the outer row).
 */
import { toSql } from 'pgvector';
import { HistoseekError } from '../../util/errors.js';
import type { Hit } from '../types.js';

export interface NearestQuery {
  /** A normalised query vector. */
  vector: Float32Array;
  /** Rows the server must leave out (an exact search: its order is total, so this is the filtered top-k). */
  exclude?: ReadonlySet<number>;
}

export interface NearestBatch {
  /** The schema-qualified items table. */
  table: string;
  /** pgvector's column type: `halfvec` or `vector`. */
  vectorType: string;
  mode: 'exact' | 'two-stage';
  /** Rows per query. */
  limit: number;
  /** hnsw.ef_search of a two-stage search (the caller caps it at pgvector's 1000). */
  efSearch: number;
  /** pgvector ≥ 0.8: a strict-order iterative scan, which goes on past ef_search candidates until LIMIT rows come. */
  iterativeScans: boolean;
}

/** The text of one simple-protocol query answering every one of `queries` (rows q, id, ip). */
export function nearestSql(queries: readonly NearestQuery[], o: NearestBatch): string {
  for (const value of [o.limit, o.efSearch])
    if (!Number.isInteger(value) || value < 1) throw new Error(`nearestSql: ${value} is not a positive integer`);
  // The exact scan breaks ties by row, like the folder store; pgvector's index serves ORDER BY distance alone.
  const order = o.mode === 'exact' ? 'ip, id' : 'ip';
  const branches = queries.map(
    (query, q) =>
      `(SELECT ${q} AS q, id, embedding <#> '${toSql(Array.from(query.vector))}'::${o.vectorType} AS ip FROM ${o.table}${excluding(query.exclude)} ORDER BY ${order} LIMIT ${o.limit})`,
  );
  const settings =
    o.mode === 'exact'
      ? ['SET LOCAL enable_indexscan = off']
      : [
          `SET LOCAL hnsw.ef_search = ${o.efSearch}`,
          ...(o.iterativeScans ? ['SET LOCAL hnsw.iterative_scan = strict_order'] : []),
        ];
  return [...settings, branches.join('\nUNION ALL\n')].join(';\n');
}

/** The WHERE clause leaving `rows` out; they are inlined, so each must be a row number. */
function excluding(rows: ReadonlySet<number> | undefined): string {
  if (!rows?.size) return '';
  for (const row of rows)
    if (!Number.isSafeInteger(row)) throw new HistoseekError('BAD_QUERY', `search: excluded row ${row} is not a row`);
  return ` WHERE id <> ALL('{${[...rows].join(',')}}'::bigint[])`;
}

/**
 * The rows of nearestSql's SELECT as ranked hits per query. Each branch's rows arrive in its own
 * order (Append and Gather keep a branch's order), so grouping by q keeps each ranking as it came.
 */
export function hitsByQuery(rows: readonly { q: number; id: number; ip: number }[], queries: number): Hit[][] {
  const out: Hit[][] = Array.from({ length: queries }, () => []);
  // <#> is the negative inner product; the distance between unit vectors is 2 − 2·cosine.
  for (const r of rows) out[r.q].push({ row: r.id, distance: Math.fround(Math.max(0, 2 + 2 * r.ip)) });
  return out;
}
