/**
 * The store on PostgreSQL + pgvector (schema.ts has the tables). Every process — indexers on many
 * machines, servers — works on the same rows: appends and removals are transactions that also
 * advance the generation counter, so a server that compares it per request is always current.
 * Searching is SQL, one round trip per batch of queries (nearest-sql.ts): an exact scan
 * (`enable_indexscan = off`), or pgvector's HNSW index with `hnsw.ef_search` = the candidates and
 * a strict-order iterative scan, so the index yields as many rows as asked when the store has them.
 * Vectors travel in pgvector's text form, through the `pgvector` package (toSql / fromSql).
 * Items that are already stored (by source) are skipped on insert, so two indexers racing on the
 * same image store it once.
 */
import { identityMismatch } from '../../model/identity.js';
import pg from 'pg';
import { fromSql, toSql } from 'pgvector';
import { hostname } from 'node:os';
import { HistoseekError } from '../../util/errors.js';
import { exclusionGroups, type ItemSearcher, type ItemStore, type WorkClaims } from '../item-store.js';
import {
  type Exclusion,
  type Hit,
  isVectorKind,
  type ItemRecord,
  type ModelIdentity,
  type SearchSettings,
  type StoredItem,
  TWO_STAGE_MIN_ROWS,
  type VectorKind,
} from '../types.js';
import { modelFromMeta, modelMeta } from '../model-meta.js';
import { describeConnectionError, parseStoreUrl, type StoreUrl } from './connection.js';
import { hitsByQuery, nearestSql, type NearestQuery } from './nearest-sql.js';
import { PG_FORMAT, PG_VECTOR_TYPES, quoteIdent, schemaSql } from './schema.js';

const ITEM_COLUMNS = 'id AS "row", source, label, slide, patient, x, y, width, height, collection';
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

type Queryable = pg.Pool | pg.PoolClient;

export class PostgresStore implements ItemStore {
  private constructor(
    private readonly url: StoreUrl,
    private readonly pool: pg.Pool,
    readonly model: ModelIdentity,
    readonly vectorKind: VectorKind,
    /** pgvector 0.8 added iterative index scans (more rows than ef_search when a filter drops some). */
    private readonly iterativeScans: boolean,
  ) {}

  get location(): string {
    return this.url.display;
  }

  /** The schema-qualified name of one of the store's tables. */
  private table(name: 'meta' | 'items' | 'failures' | 'claims'): string {
    return `${quoteIdent(this.url.schema)}.${name}`;
  }

  /** Connects and checks that the URL holds a store; `create` makes one for `model` if it holds none. */
  static async open(db: string, create?: { model: ModelIdentity; vectors?: VectorKind }): Promise<PostgresStore> {
    const url = parseStoreUrl(db);
    const pool = new pg.Pool({ ...url.config, max: 4 });
    // An idle client's network error must not crash the process; the next query reports it.
    pool.on('error', () => {});
    try {
      const client = await pool.connect().catch((err: unknown) => {
        throw describeConnectionError(err, url);
      });
      try {
        const pgvector = await ensureVectorExtension(client, url, create !== undefined);
        if (create) await createSchema(client, url, create.model, create.vectors ?? 'f16');
        const meta = await readMeta(client, url);
        if (meta === null)
          throw new HistoseekError(
            'NOT_FOUND',
            `${url.display}: holds no histoseek store in schema '${url.schema}' (index into it first, or give ?schema=NAME)`,
          );
        if (meta.format !== PG_FORMAT)
          throw new HistoseekError(
            'INDEX_DAMAGED',
            `${url.display}: schema '${url.schema}' holds '${meta.format ?? 'no format'}', not a ${PG_FORMAT} store`,
          );
        const kind = meta.vectors ?? '';
        if (!isVectorKind(kind))
          throw new HistoseekError('INDEX_DAMAGED', `${url.display}: unknown stored precision '${kind}'`);
        const missing = ['model_id', 'model_hash', 'dim', 'input_size'].find((key) => !meta[key]);
        if (missing)
          throw new HistoseekError(
            'INDEX_DAMAGED',
            `${url.display}: the store in schema '${url.schema}' is damaged: its meta table has no '${missing}'`,
          );
        const model = modelFromMeta((key) => meta[key]);
        const store = new PostgresStore(url, pool, model, kind, versionAtLeast(pgvector, [0, 8]));
        if (create) {
          store.assertModel(create.model);
          if (create.vectors && create.vectors !== kind)
            throw new HistoseekError(
              'BAD_OPTION',
              `${url.display}: this store keeps ${kind} vectors; --vectors ${create.vectors} applies when a store is created`,
            );
        }
        return store;
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  assertModel(model: Pick<ModelIdentity, 'id' | 'hash'>): void {
    const mismatch = identityMismatch(this.location, 'store', this.model, model);
    if (mismatch) throw new HistoseekError('WRONG_MODEL', mismatch);
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    on: Queryable = this.pool,
  ): Promise<R[]> {
    try {
      return (await on.query<R>(sql, params)).rows;
    } catch (err) {
      throw describeConnectionError(err, this.url);
    }
  }

  /** Runs `work` in one transaction on one connection. */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw describeConnectionError(err, this.url);
    });
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** Advances the generation and moves the live count by `delta`, inside the caller's transaction. */
  private async changed(client: pg.PoolClient, delta: number): Promise<void> {
    await this.query(
      `UPDATE ${this.table('meta')} SET value = (value::bigint + CASE key WHEN 'generation' THEN 1 ELSE $1::bigint END)::text WHERE key IN ('generation', 'items')`,
      [delta],
      client,
    );
  }

  async generation(): Promise<number> {
    return Number(
      (await this.query<{ value: string }>(`SELECT value FROM ${this.table('meta')} WHERE key = 'generation'`))[0]
        ?.value ?? 0,
    );
  }

  /** Live items (a counter kept with every change, not a scan). */
  async liveCount(): Promise<number> {
    return Number(
      (await this.query<{ value: string }>(`SELECT value FROM ${this.table('meta')} WHERE key = 'items'`))[0]?.value ??
        0,
    );
  }

  async rowLimit(): Promise<number> {
    // The identity's last value: removing the highest rows does not lower it.
    return Number(
      (
        await this.query<{ next: number }>(
          `SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, 'id')), -1) + 1 AS next`,
          [this.table('items')],
        )
      )[0].next,
    );
  }

  async storedSources(sources?: string[]): Promise<Set<string>> {
    const rows = sources
      ? await this.query<{ source: string }>(
          `SELECT source FROM ${this.table('items')} WHERE source = ANY($1::text[])`,
          [sources],
        )
      : await this.query<{ source: string }>(`SELECT source FROM ${this.table('items')}`);
    return new Set(rows.map((r) => r.source));
  }

  async append(items: ItemRecord[], normalised: Float32Array, norms: Float32Array): Promise<void> {
    const dim = this.model.dim;
    if (normalised.length !== items.length * dim || norms.length !== items.length)
      throw new Error(
        `append: ${items.length} items need ${items.length * dim} vector values and ${items.length} norms`,
      );
    const column = <T>(pick: (item: ItemRecord) => T | null | undefined) => items.map((item) => pick(item) ?? null);
    const vectors = items.map((_, i) => toSql(Array.from(normalised.subarray(i * dim, (i + 1) * dim))));
    const type = PG_VECTOR_TYPES[this.vectorKind]!.type;
    await this.transaction(async (client) => {
      const inserted = await this.query<{ id: number }>(
        `INSERT INTO ${this.table('items')} (source, label, slide, patient, x, y, width, height, collection, norm, embedding)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::int[], $9::text[], $10::real[], $11::${type}[])
         ON CONFLICT (source) DO NOTHING RETURNING id`,
        [
          column((i) => i.source),
          column((i) => i.label),
          column((i) => i.slide),
          column((i) => i.patient),
          column((i) => i.x),
          column((i) => i.y),
          column((i) => i.width),
          column((i) => i.height),
          column((i) => i.collection),
          Array.from(norms),
          vectors,
        ],
        client,
      );
      await this.query(
        `DELETE FROM ${this.table('failures')} WHERE source = ANY($1::text[])`,
        [column((i) => i.source)],
        client,
      );
      if (inserted.length) await this.changed(client, inserted.length);
    });
  }

  async recordFailure(source: string, reason: string): Promise<void> {
    await this.query(
      `INSERT INTO ${this.table('failures')} (source, reason) VALUES ($1, $2) ON CONFLICT (source) DO UPDATE SET reason = EXCLUDED.reason, at = now()`,
      [source, reason],
    );
  }

  async failures(): Promise<{ source: string; reason: string }[]> {
    return this.query(`SELECT source, reason FROM ${this.table('failures')} ORDER BY source`);
  }

  async remove(filter: { slide?: string; under?: string }): Promise<number> {
    let where: string;
    let params: string[];
    if (filter.slide !== undefined) {
      where = 'slide = $1';
      params = [filter.slide];
    } else if (filter.under !== undefined) {
      const prefix = filter.under.endsWith('/') ? filter.under : `${filter.under}/`;
      where = 'source = $1 OR left(source, length($2)) = $2';
      params = [filter.under, prefix];
    } else throw new Error('remove: give a slide or a folder');
    return this.transaction(async (client) => {
      const removed = await this.query(
        `DELETE FROM ${this.table('items')} WHERE ${where} RETURNING id`,
        params,
        client,
      );
      if (removed.length) await this.changed(client, -removed.length);
      return removed.length;
    });
  }

  async items(rows: number[]): Promise<(StoredItem | undefined)[]> {
    if (rows.length === 0) return [];
    const found = await this.query<StoredItem>(
      `SELECT ${ITEM_COLUMNS} FROM ${this.table('items')} WHERE id = ANY($1::bigint[])`,
      [rows],
    );
    const byRow = new Map(found.map((item) => [item.row, item]));
    return rows.map((row) => byRow.get(row));
  }

  async allItems(): Promise<StoredItem[]> {
    return this.query<StoredItem>(`SELECT ${ITEM_COLUMNS} FROM ${this.table('items')} ORDER BY id`);
  }

  async labelCounts(): Promise<Map<string, number>> {
    const rows = await this.query<{ label: string; n: number }>(
      `SELECT label, count(*)::int AS n FROM ${this.table('items')} GROUP BY label`,
    );
    return new Map(rows.map((r) => [r.label, r.n]));
  }

  async slideCounts(): Promise<Map<string, number>> {
    const rows = await this.query<{ slide: string; n: number }>(
      `SELECT slide, count(*)::int AS n FROM ${this.table('items')} WHERE slide IS NOT NULL GROUP BY slide`,
    );
    return new Map(rows.map((r) => [r.slide, r.n]));
  }

  async slideRows(slide: string): Promise<number[]> {
    return (
      await this.query<{ id: number }>(`SELECT id FROM ${this.table('items')} WHERE slide = $1 ORDER BY id`, [slide])
    ).map((r) => r.id);
  }

  async vectors(rows: number[]): Promise<Float32Array> {
    const dim = this.model.dim;
    const out = new Float32Array(rows.length * dim);
    if (rows.length === 0) return out;
    const found = await this.query<{ id: number; v: string }>(
      `SELECT id, embedding::text AS v FROM ${this.table('items')} WHERE id = ANY($1::bigint[])`,
      [rows],
    );
    const byRow = new Map(found.map((r) => [r.id, r.v]));
    rows.forEach((row, i) => {
      const text = byRow.get(row);
      if (text === undefined) throw new HistoseekError('NOT_FOUND', `${this.location}: no item ${row}`);
      out.set(fromSql(text) as number[], i * dim);
    });
    return out;
  }

  async openSearcher(settings: SearchSettings = {}): Promise<ItemSearcher> {
    const mode = settings.mode ?? 'auto';
    const live = await this.liveCount();
    const candidates = settings.candidates ?? defaultEfSearch(live);
    if (!Number.isInteger(candidates) || candidates < 1)
      throw new HistoseekError('BAD_QUERY', `candidates must be a positive integer, got ${candidates}`);
    const useIndex = mode === 'two-stage' || (mode === 'auto' && live >= TWO_STAGE_MIN_ROWS);
    return new PostgresSearcher(this, useIndex ? 'two-stage' : 'exact', Math.min(candidates, MAX_EF_SEARCH));
  }

  /**
   * The `limit` nearest items to each query by inner product, exactly or through the HNSW index:
   * one round trip per QUERIES_PER_STATEMENT queries.
   */
  async nearest(
    queries: readonly NearestQuery[],
    limit: number,
    mode: 'exact' | 'two-stage',
    efSearch: number,
  ): Promise<Hit[][]> {
    const out: Hit[][] = [];
    for (let first = 0; first < queries.length; first += QUERIES_PER_STATEMENT) {
      const chunk = queries.slice(first, first + QUERIES_PER_STATEMENT);
      const sql = nearestSql(chunk, {
        table: this.table('items'),
        vectorType: PG_VECTOR_TYPES[this.vectorKind]!.type,
        mode,
        limit,
        efSearch: Math.min(MAX_EF_SEARCH, Math.max(efSearch, limit)),
        iterativeScans: this.iterativeScans,
      });
      let results: unknown;
      try {
        results = await this.pool.query(sql);
      } catch (err) {
        throw describeConnectionError(err, this.url);
      }
      // A simple-protocol query of several statements answers with one result each: the SELECT is the last.
      const select = (Array.isArray(results) ? results.at(-1) : results) as pg.QueryResult<{
        q: number;
        id: number;
        ip: number;
      }>;
      out.push(...hitsByQuery(select.rows, chunk.length));
    }
    return out;
  }

  /** Claims of concurrent indexers, as lease rows in this store (see work-claims.ts). */
  workClaims(worker = `${hostname()}:${process.pid}`): WorkClaims {
    return {
      worker,
      claim: async (unit, leaseSeconds) =>
        (
          await this.query(
            `INSERT INTO ${this.table('claims')} (unit, worker, expires) VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (unit) DO UPDATE SET worker = EXCLUDED.worker, expires = EXCLUDED.expires
           WHERE ${this.table('claims')}.expires < now() OR ${this.table('claims')}.worker = EXCLUDED.worker RETURNING unit`,
            [unit, worker, leaseSeconds],
          )
        ).length === 1,
      renew: async (leaseSeconds) => {
        await this.query(
          `UPDATE ${this.table('claims')} SET expires = now() + make_interval(secs => $2) WHERE worker = $1`,
          [worker, leaseSeconds],
        );
      },
      release: async (unit) => {
        await this.query(`DELETE FROM ${this.table('claims')} WHERE unit = $1 AND worker = $2`, [unit, worker]);
      },
      heldByOthers: async () =>
        Number(
          (
            await this.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM ${this.table('claims')} WHERE worker <> $1 AND expires >= now()`,
              [worker],
            )
          )[0].n,
        ),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

class PostgresSearcher implements ItemSearcher {
  constructor(
    private readonly store: PostgresStore,
    readonly mode: 'exact' | 'two-stage',
    private readonly efSearch: number,
  ) {}

  async search(queries: Float32Array, n: number, o: { k: number; exclude?: Exclusion }): Promise<Hit[][]> {
    const dim = this.store.model.dim;
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
      const answers = await this.store.nearest(
        pending.map((q) => ({
          vector: queries.subarray(q * dim, (q + 1) * dim),
          exclude: inSql ? excluded[q] : undefined,
        })),
        limit,
        this.mode,
        this.efSearch,
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
}

function versionAtLeast(version: string, least: number[]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < least.length; i++) if ((parts[i] ?? 0) !== least[i]) return (parts[i] ?? 0) > least[i];
  return true;
}

/** pgvector's version in the database, enabled first when creating a store. */
async function ensureVectorExtension(client: pg.PoolClient, url: StoreUrl, create: boolean): Promise<string> {
  const version = async () =>
    (await client.query<{ extversion: string }>(`SELECT extversion FROM pg_extension WHERE extname = 'vector'`)).rows[0]
      ?.extversion;
  const installed = await version();
  if (installed) return installed;
  const available = (await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`)).rows.length > 0;
  if (!available) {
    throw new HistoseekError(
      'NOT_FOUND',
      `${url.display}: this PostgreSQL server lacks the pgvector extension ('vector'); install pgvector 0.7 or later on the server (e.g. the postgresql-16-pgvector package), then rerun — nothing was written`,
    );
  }
  if (!create)
    throw new HistoseekError(
      'NOT_FOUND',
      `${url.display}: pgvector is not enabled in database '${url.config.database}'; index into it first, or run CREATE EXTENSION vector`,
    );
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS vector');
  } catch (err) {
    throw new Error(
      `${url.display}: cannot enable pgvector (${(err as Error).message}); ask the database owner to run CREATE EXTENSION vector`,
      { cause: err },
    );
  }
  return (await version())!;
}

async function readMeta(client: pg.PoolClient, url: StoreUrl): Promise<Record<string, string> | null> {
  const exists =
    (await client.query(`SELECT to_regclass($1) AS t`, [`${quoteIdent(url.schema)}.meta`])).rows[0].t !== null;
  if (!exists) return null;
  const rows = (
    await client.query<{ key: string; value: string }>(`SELECT key, value FROM ${quoteIdent(url.schema)}.meta`)
  ).rows;
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

/** Creates the schema, tables and identity of a new store, in one transaction; an existing store is left as it is. */
async function createSchema(
  client: pg.PoolClient,
  url: StoreUrl,
  model: ModelIdentity,
  vectors: VectorKind,
): Promise<void> {
  if (!PG_VECTOR_TYPES[vectors])
    throw new HistoseekError(
      'BAD_OPTION',
      `${url.display}: a PostgreSQL store keeps f16 (halfvec) or f32 (vector) descriptors, not ${vectors}`,
    );
  const meta = await readMeta(client, url);
  if (meta !== null) return;
  try {
    await client.query('BEGIN');
    // Two indexers creating the same store at once: the second waits here, then finds it made.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`histoseek:${url.schema}`]);
    if ((await readMeta(client, url)) === null) {
      await client.query(schemaSql(url.schema, vectors, model.dim));
      const values: Record<string, string> = {
        format: PG_FORMAT,
        ...modelMeta(model),
        vectors,
        generation: '0',
        items: '0',
      };
      for (const [key, value] of Object.entries(values))
        await client.query(`INSERT INTO ${quoteIdent(url.schema)}.meta (key, value) VALUES ($1, $2)`, [key, value]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw new Error(
      `${url.display}: cannot create the store in schema '${url.schema}' (${(err as Error).message}); nothing was written`,
      { cause: err },
    );
  }
}
