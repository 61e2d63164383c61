/**
 * Searching a PostgreSQL store is SQL, one round trip per batch of queries (nearest-sql.ts): an
 * exact scan (`enable_indexscan = off`), or pgvector's HNSW index with `hnsw.ef_search` = the
 * candidates and a strict-order iterative scan, so the index yields as many rows as asked when the
 * store has them. The searcher answers from the store as it is at each query (no snapshot).
 */
import { HistoseekError } from '../../util/errors.js';
import { exclusionGroups, type ItemSearcher } from '../item-store.js';
import { type Hit, type SearchOptions, type SearchSettings, TWO_STAGE_MIN_ROWS } from '../types.js';
import type { StoreConnection } from './connection.js';
import { hitsByQuery, nearestSql, type NearestQuery } from './nearest-sql.js';

/** pgvector caps hnsw.ef_search at 1000. */
const MAX_EF_SEARCH = 1000;
/**
 * Queries answered by one statement: a batch of thousands (an evaluation's every item) is cut into
 * statements of bounded text (each query inlines its vector) and planning time.
 */
const QUERIES_PER_STATEMENT = 128;

/**
 * hnsw.ef_search when no candidates are asked for, by live items: pgvector ranks every candidate by
 * its stored vector, so each one costs, and the count only doubles as the archive grows (the folder
 * store re-ranks a capped few and can afford more: defaultCandidates).
 */
export function defaultEfSearch(liveItems: number): number {
  return liveItems < 2_000_000 ? 160 : liveItems < 6_000_000 ? 320 : 640;
}

/** The store's items as a search reads them. */
export interface SearchedItems {
  connection: StoreConnection;
  dim: number;
  /** pgvector's column type: `halfvec` or `vector`. */
  vectorType: string;
  /** pgvector ≥ 0.8: iterative index scans. */
  iterativeScans: boolean;
}

export class PostgresSearcher implements ItemSearcher {
  private constructor(
    private readonly items: SearchedItems,
    readonly mode: 'exact' | 'two-stage',
    private readonly efSearch: number,
  ) {}

  /** A searcher of `items`, which hold `live` items now: exact below TWO_STAGE_MIN_ROWS unless asked otherwise. */
  static open(items: SearchedItems, live: number, settings: SearchSettings = {}): PostgresSearcher {
    const mode = settings.mode ?? 'auto';
    const candidates = settings.candidates ?? defaultEfSearch(live);
    if (!Number.isInteger(candidates) || candidates < 1)
      throw new HistoseekError('BAD_QUERY', `candidates must be a positive integer, got ${candidates}`);
    const useIndex = mode === 'two-stage' || (mode === 'auto' && live >= TWO_STAGE_MIN_ROWS);
    return new PostgresSearcher(items, useIndex ? 'two-stage' : 'exact', Math.min(candidates, MAX_EF_SEARCH));
  }

  async search(queries: Float32Array, n: number, o: SearchOptions): Promise<Hit[][]> {
    const { dim } = this.items;
    if (queries.length !== n * dim)
      throw new HistoseekError(
        'BAD_QUERY',
        `search: ${n} queries of this store need ${n * dim} values (${dim} each), got ${queries.length}`,
      );
    if (!Number.isInteger(o.k) || o.k < 1)
      throw new HistoseekError('BAD_QUERY', `search: k must be a positive integer, got ${o.k}`);
    const excluded = new Array<ReadonlySet<number>>(n);
    for (const group of exclusionGroups(n, o.exclude)) for (const q of group.queries) excluded[q] = group.excluded;
    // An exact search leaves the excluded rows out in SQL: its order is total, so that is the filtered top-k.
    // Under a filter pgvector's HNSW scan returns fewer rows, so two-stage filters a longer list here,
    // widened (for the queries still short) until k survive or the store runs out.
    const inSql = this.mode === 'exact';
    const out = new Array<Hit[]>(n);
    let pending = Array.from({ length: n }, (_, q) => q);
    for (let limit = o.exclude && !inSql ? 2 * o.k : o.k; pending.length > 0; limit *= 4) {
      const answers = await this.nearest(
        pending.map((q) => ({
          vector: queries.subarray(q * dim, (q + 1) * dim),
          exclude: inSql ? excluded[q] : undefined,
        })),
        limit,
      );
      pending = pending.filter((q, i) => {
        const kept = answers[i].filter((hit) => !excluded[q].has(hit.row));
        if (kept.length < o.k && answers[i].length === limit) return true;
        out[q] = kept.slice(0, o.k);
        return false;
      });
    }
    return out;
  }

  async release(): Promise<void> {}

  /**
   * The `limit` nearest items to each query by inner product, exactly or through the HNSW index:
   * one round trip per QUERIES_PER_STATEMENT queries.
   */
  private async nearest(queries: readonly NearestQuery[], limit: number): Promise<Hit[][]> {
    const { connection, vectorType, iterativeScans } = this.items;
    const out: Hit[][] = [];
    for (let first = 0; first < queries.length; first += QUERIES_PER_STATEMENT) {
      const chunk = queries.slice(first, first + QUERIES_PER_STATEMENT);
      const sql = nearestSql(chunk, {
        table: connection.table('items'),
        vectorType,
        mode: this.mode,
        limit,
        efSearch: Math.min(MAX_EF_SEARCH, Math.max(this.efSearch, limit)),
        iterativeScans,
      });
      const results = await connection.simpleQuery(sql);
      // A simple-protocol query of several statements answers with one result each: the SELECT is the last.
      const select = (Array.isArray(results) ? results.at(-1)! : results) as {
        rows: { q: number; id: number; ip: number }[];
      };
      out.push(...hitsByQuery(select.rows, chunk.length));
    }
    return out;
  }
}
