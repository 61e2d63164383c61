/**
 * The store on PostgreSQL + pgvector (schema.ts sets it up). Every process — indexers on many
 * machines, servers — works on the same rows: appends and removals are transactions that also
 * advance the generation counter, so a server that compares it per request is always current.
 * Searching is SQL (search.ts); concurrent indexers claim their work in the store (claims.ts).
 * Vectors travel in pgvector's text form, through the `pgvector` package (toSql / fromSql).
 * Items that are already stored (by source) are skipped on insert, so two indexers racing on the
 * same image store it once.
 */
import type pg from 'pg';
import { fromSql, toSql } from 'pgvector';
import { hostname } from 'node:os';
import { identityMismatch } from '../../model/identity.js';
import { HistoseekError } from '../../util/errors.js';
import type { ItemSearcher, ItemStore, WorkClaims } from '../item-store.js';
import type { ItemRecord, ModelIdentity, SearchSettings, StoredItem, VectorKind } from '../types.js';
import { postgresClaims } from './claims.js';
import { parseStoreUrl, StoreConnection } from './connection.js';
import { PG_VECTOR_TYPES, setUpStore } from './schema.js';
import { PostgresSearcher, type SearchedItems } from './search.js';

const ITEM_COLUMNS = 'id AS "row", source, label, slide, patient, x, y, width, height, collection';

export class PostgresStore implements ItemStore {
  private constructor(
    private readonly connection: StoreConnection,
    readonly model: ModelIdentity,
    readonly vectorKind: VectorKind,
    /** pgvector 0.8 added iterative index scans (more rows than ef_search when a filter drops some). */
    private readonly iterativeScans: boolean,
  ) {}

  get location(): string {
    return this.connection.url.display;
  }

  /** Connects and checks that the URL holds a store; `create` makes one for `model` if it holds none. */
  static async open(db: string, create?: { model: ModelIdentity; vectors?: VectorKind }): Promise<PostgresStore> {
    const connection = new StoreConnection(parseStoreUrl(db));
    const { url } = connection;
    try {
      const client = await connection.connect();
      try {
        const { model, vectorKind, iterativeScans } = await setUpStore(client, url, create);
        const store = new PostgresStore(connection, model, vectorKind, iterativeScans);
        if (create) {
          store.assertModel(create.model);
          if (create.vectors && create.vectors !== vectorKind)
            throw new HistoseekError(
              'BAD_OPTION',
              `${url.display}: this store keeps ${vectorKind} vectors; --vectors ${create.vectors} applies when a store is created`,
            );
        }
        return store;
      } finally {
        client.release();
      }
    } catch (err) {
      await connection.end();
      throw err;
    }
  }

  assertModel(model: Pick<ModelIdentity, 'id' | 'hash'>): void {
    const mismatch = identityMismatch(this.location, 'store', this.model, model);
    if (mismatch) throw new HistoseekError('WRONG_MODEL', mismatch);
  }

  /** Advances the generation and moves the live count by `delta`, inside the caller's transaction. */
  private async changed(client: pg.PoolClient, delta: number): Promise<void> {
    await this.connection.query(
      `UPDATE ${this.connection.table('meta')} SET value = (value::bigint + CASE key WHEN 'generation' THEN 1 ELSE $1::bigint END)::text WHERE key IN ('generation', 'items')`,
      [delta],
      client,
    );
  }

  async generation(): Promise<number> {
    return Number(
      (
        await this.connection.query<{ value: string }>(
          `SELECT value FROM ${this.connection.table('meta')} WHERE key = 'generation'`,
        )
      )[0]?.value ?? 0,
    );
  }

  /** Live items (a counter kept with every change, not a scan). */
  async liveCount(): Promise<number> {
    return Number(
      (
        await this.connection.query<{ value: string }>(
          `SELECT value FROM ${this.connection.table('meta')} WHERE key = 'items'`,
        )
      )[0]?.value ?? 0,
    );
  }

  async rowLimit(): Promise<number> {
    // The identity's last value: removing the highest rows does not lower it.
    return Number(
      (
        await this.connection.query<{ next: number }>(
          `SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, 'id')), -1) + 1 AS next`,
          [this.connection.table('items')],
        )
      )[0].next,
    );
  }

  async storedSources(sources?: string[]): Promise<Set<string>> {
    const rows = sources
      ? await this.connection.query<{ source: string }>(
          `SELECT source FROM ${this.connection.table('items')} WHERE source = ANY($1::text[])`,
          [sources],
        )
      : await this.connection.query<{ source: string }>(`SELECT source FROM ${this.connection.table('items')}`);
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
    await this.connection.transaction(async (client) => {
      const inserted = await this.connection.query<{ id: number }>(
        `INSERT INTO ${this.connection.table('items')} (source, label, slide, patient, x, y, width, height, collection, norm, embedding)
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
      await this.connection.query(
        `DELETE FROM ${this.connection.table('failures')} WHERE source = ANY($1::text[])`,
        [column((i) => i.source)],
        client,
      );
      if (inserted.length) await this.changed(client, inserted.length);
    });
  }

  async recordFailure(source: string, reason: string): Promise<void> {
    await this.connection.query(
      `INSERT INTO ${this.connection.table('failures')} (source, reason) VALUES ($1, $2) ON CONFLICT (source) DO UPDATE SET reason = EXCLUDED.reason, at = now()`,
      [source, reason],
    );
  }

  async failures(): Promise<{ source: string; reason: string }[]> {
    return this.connection.query(`SELECT source, reason FROM ${this.connection.table('failures')} ORDER BY source`);
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
    return this.connection.transaction(async (client) => {
      const removed = await this.connection.query(
        `DELETE FROM ${this.connection.table('items')} WHERE ${where} RETURNING id`,
        params,
        client,
      );
      if (removed.length) await this.changed(client, -removed.length);
      return removed.length;
    });
  }

  async items(rows: number[]): Promise<(StoredItem | undefined)[]> {
    if (rows.length === 0) return [];
    const found = await this.connection.query<StoredItem>(
      `SELECT ${ITEM_COLUMNS} FROM ${this.connection.table('items')} WHERE id = ANY($1::bigint[])`,
      [rows],
    );
    const byRow = new Map(found.map((item) => [item.row, item]));
    return rows.map((row) => byRow.get(row));
  }

  async allItems(): Promise<StoredItem[]> {
    return this.connection.query<StoredItem>(
      `SELECT ${ITEM_COLUMNS} FROM ${this.connection.table('items')} ORDER BY id`,
    );
  }

  async labelCounts(): Promise<Map<string, number>> {
    const rows = await this.connection.query<{ label: string; n: number }>(
      `SELECT label, count(*)::int AS n FROM ${this.connection.table('items')} GROUP BY label`,
    );
    return new Map(rows.map((r) => [r.label, r.n]));
  }

  async slideCounts(): Promise<Map<string, number>> {
    const rows = await this.connection.query<{ slide: string; n: number }>(
      `SELECT slide, count(*)::int AS n FROM ${this.connection.table('items')} WHERE slide IS NOT NULL GROUP BY slide`,
    );
    return new Map(rows.map((r) => [r.slide, r.n]));
  }

  async slideRows(slide: string): Promise<number[]> {
    return (
      await this.connection.query<{ id: number }>(
        `SELECT id FROM ${this.connection.table('items')} WHERE slide = $1 ORDER BY id`,
        [slide],
      )
    ).map((r) => r.id);
  }

  async vectors(rows: number[]): Promise<Float32Array> {
    const dim = this.model.dim;
    const out = new Float32Array(rows.length * dim);
    if (rows.length === 0) return out;
    const found = await this.connection.query<{ id: number; v: string }>(
      `SELECT id, embedding::text AS v FROM ${this.connection.table('items')} WHERE id = ANY($1::bigint[])`,
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
    return PostgresSearcher.open(this.searchedItems(), await this.liveCount(), settings);
  }

  private searchedItems(): SearchedItems {
    return {
      connection: this.connection,
      dim: this.model.dim,
      vectorType: PG_VECTOR_TYPES[this.vectorKind]!.type,
      iterativeScans: this.iterativeScans,
    };
  }

  /** Claims of concurrent indexers, as lease rows in this store (claims.ts). */
  workClaims(worker = `${hostname()}:${process.pid}`): WorkClaims {
    return postgresClaims(this.connection, worker);
  }

  async close(): Promise<void> {
    await this.connection.end();
  }
}
