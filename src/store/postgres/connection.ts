/**
 * Connecting to PostgreSQL from a `--db postgres://USER@HOST:PORT/DB[?schema=NAME]` URL, the way
 * libpq does: the password from the URL, else PGPASSWORD, else ~/.pgpass (PGPASSFILE); `sslmode`
 * and the other libpq parameters in the URL. Errors name the URL without its password, and say
 * what to check; no message, log line or error ever holds the password.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { HistoseekError } from '../../util/errors.js';
import { redactUrl } from './url.js';

const require = createRequire(import.meta.url);
/** libpq's ~/.pgpass lookup (the module node-postgres itself uses). */
const pgpass = require('pgpass') as (
  info: { host: string; port: number; database: string; user: string },
  done: (password?: string) => void,
) => void;

/** Seconds to wait for the server to answer a connection (libpq's `connect_timeout` in the URL overrides). */
export const DEFAULT_CONNECT_TIMEOUT_S = 10;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface StoreUrl {
  /** The URL as given, minus its password: safe to print. */
  readonly display: string;
  /** The PostgreSQL schema holding the store's tables (`?schema=`, default `histoseek`). */
  readonly schema: string;
  /** @internal node-postgres's settings (its types are a dev dependency: none in the published declarations) */
  readonly config: pg.PoolConfig;
}

/** Parses a store URL; throws a clear error (without the password) when it is malformed. */
export function parseStoreUrl(db: string): StoreUrl {
  const display = redactUrl(db);
  let url: URL;
  try {
    url = new URL(db);
  } catch {
    throw new HistoseekError(
      'BAD_OPTION',
      `${display}: not a valid PostgreSQL URL; expected postgres://USER@HOST:PORT/DATABASE[?schema=NAME]`,
    );
  }
  if (!url.hostname)
    throw new HistoseekError(
      'BAD_OPTION',
      `${display}: the URL names no host; expected postgres://USER@HOST:PORT/DATABASE[?schema=NAME]`,
    );
  if (url.port && !(Number(url.port) > 0 && Number(url.port) < 65536))
    throw new HistoseekError('BAD_OPTION', `${display}: port '${url.port}' is not a TCP port`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database || database.includes('/'))
    throw new HistoseekError(
      'BAD_OPTION',
      `${display}: the URL names no database (postgres://USER@HOST:PORT/DATABASE)`,
    );
  const schema = url.searchParams.get('schema') ?? 'histoseek';
  if (!SCHEMA_NAME.test(schema))
    throw new HistoseekError(
      'BAD_OPTION',
      `${display}: schema '${schema}' must be a lower-case SQL name (letters, digits, _)`,
    );
  const params = Object.fromEntries(url.searchParams);
  const timeout = params.connect_timeout === undefined ? DEFAULT_CONNECT_TIMEOUT_S : Number(params.connect_timeout);
  if (!(timeout > 0))
    throw new HistoseekError('BAD_OPTION', `${display}: connect_timeout must be a positive number of seconds`);
  const host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || process.env.PGPORT || 5432);
  const user = decodeURIComponent(url.username) || process.env.PGUSER || process.env.USER || 'postgres';
  const given = url.password ? decodeURIComponent(url.password) : process.env.PGPASSWORD;
  const config: pg.PoolConfig = {
    host,
    port,
    user,
    database,
    password: async () =>
      given ?? (await new Promise<string | undefined>((done) => pgpass({ host, port, database, user }, done))) ?? '',
    ssl: sslOption(params.sslmode, display),
    connectionTimeoutMillis: timeout * 1000,
    application_name: 'histoseek',
    // bigint ids come back as numbers (rows stay far below 2⁵³).
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  };
  return { display, schema, config };
}

/** libpq's sslmode: disable/allow/prefer connect in plain text here (node-postgres does not negotiate), require and up encrypt. */
function sslOption(mode: string | undefined, display: string): pg.PoolConfig['ssl'] {
  switch (mode ?? 'prefer') {
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full':
      return { rejectUnauthorized: true };
    default:
      throw new HistoseekError(
        'BAD_OPTION',
        `${display}: sslmode must be disable, allow, prefer, require, verify-ca or verify-full, got '${mode}'`,
      );
  }
}

/**
 * A PostgreSQL or network error as a sentence naming the store and what to check (never the
 * password): a HistoseekError where a code fits (a bad login or a missing database, a table of the
 * store gone), a plain Error for a server that cannot be reached.
 */
export function describeConnectionError(err: unknown, url: StoreUrl): Error {
  const e = err as { code?: string; message?: string };
  const c = url.config;
  const where = url.display;
  switch (e.code) {
    case 'ECONNREFUSED':
      return new Error(
        `${where}: nothing accepts connections at ${c.host}:${c.port} (is PostgreSQL running, on that port?)`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Error(`${where}: host '${c.host}' is unknown`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new Error(`${where}: host ${c.host} cannot be reached`);
    case '28P01':
      return new HistoseekError(
        'BAD_OPTION',
        `${where}: password authentication failed for user '${c.user}' (check the password: URL, PGPASSWORD or ~/.pgpass)`,
      );
    case '28000':
      return new HistoseekError(
        'BAD_OPTION',
        `${where}: the server refuses user '${c.user}' (${e.message ?? 'no pg_hba.conf entry'})`,
      );
    case '3D000':
      return new HistoseekError(
        'NOT_FOUND',
        `${where}: database '${c.database}' does not exist on ${c.host}:${c.port}`,
      );
    case '42501':
      return new Error(`${where}: user '${c.user}' lacks a privilege the store needs (${e.message ?? ''})`);
    case '42P01': // undefined_table: a table of the store was dropped
      return new HistoseekError('INDEX_DAMAGED', `${where}: ${redactUrl(e.message ?? '')}`);
  }
  const message = redactUrl(e.message ?? String(err));
  if (/timeout/i.test(message))
    return new Error(
      `${where}: no answer from ${c.host}:${c.port} within ${(c.connectionTimeoutMillis ?? 0) / 1000} s (connect_timeout in the URL sets the limit)`,
    );
  return new Error(`${where}: ${message}`);
}

/** A quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

type Queryable = pg.Pool | pg.PoolClient;

/** A store's pool of connections: the names of its tables, and queries whose errors name the store (never its password). */
export class StoreConnection {
  /** @internal (node-postgres's types are a dev dependency: none in the published declarations) */
  readonly pool: pg.Pool;

  constructor(readonly url: StoreUrl) {
    this.pool = new pg.Pool({ ...url.config, max: 4 });
    // An idle client's network error must not crash the process; the next query reports it.
    this.pool.on('error', () => {});
  }

  /** The schema-qualified name of one of the store's tables. */
  table(name: 'meta' | 'items' | 'failures' | 'claims'): string {
    return `${quoteIdent(this.url.schema)}.${name}`;
  }

  /** @internal A client of the pool for the caller alone (it releases it). */
  async connect(): Promise<pg.PoolClient> {
    return this.pool.connect().catch((err: unknown) => {
      throw describeConnectionError(err, this.url);
    });
  }

  /** @internal The rows of one statement, run on `on` (default: any client of the pool). */
  async query<R extends pg.QueryResultRow>(
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

  /** @internal Runs `work` in one transaction on one connection. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
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

  /**
   * @internal The results of a simple-protocol message, several statements without parameters: one
   * result each, or the one result of a single statement.
   */
  async simpleQuery(sql: string): Promise<pg.QueryResult | pg.QueryResult[]> {
    try {
      return (await this.pool.query(sql)) as pg.QueryResult | pg.QueryResult[];
    } catch (err) {
      throw describeConnectionError(err, this.url);
    }
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}
