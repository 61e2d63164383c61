/**
 * A PostgreSQL store that cannot be used says why, names the store without its password, and
 * writes nothing: a malformed URL, a server that never answers, a wrong password and a database
 * without pgvector (Debian's PostgreSQL, a real server), a store of another model, a schema without
 * a store and a damaged store (PGlite). The library throws each as a HistoseekError with its code.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { parseStoreUrl } from '../../src/store/postgres/connection.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { ModelIdentity } from '../../src/store/types.js';
import { randomModel, saveCheckpoint } from '../../src/model/checkpoint.js';
import { type ErrorCode, isHistoseekError } from '../../src/util/errors.js';
import { writeKimiaCollection } from '../../src/data/synthetic/index.js';
import { histoseek, startHistoseek, startHistoseekWith, temporaryFolder } from '../helpers.js';
import { debianPostgresBin, startDebianPostgres, startPglite } from '../postgres-fixtures.js';

const dir = await temporaryFolder('histoseek-pgerr-');
const collection = join(dir, 'collection');
await writeKimiaCollection(collection, {
  seed: 5,
  slides: 2,
  slideSize: 512,
  patchSize: 96,
  trainPerSlide: 2,
  testPerSlide: 1,
});
const PASSWORD = 'Sup3r-secret-pw';
const MODEL: ModelIdentity = { id: 'test vectors', hash: 'test-vectors-8', dim: 8, inputSize: 64 };

/** A matcher for assert.throws/rejects: a HistoseekError of `code` whose message matches `message`. */
function histoseekError(code: ErrorCode, message: RegExp) {
  return (err: unknown) => {
    assert.ok(isHistoseekError(err), `not a HistoseekError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  };
}

test('a malformed URL is refused with what a store URL looks like (BAD_OPTION)', { timeout: 120_000 }, () => {
  for (const [url, message] of [
    ['postgres://', /not a valid PostgreSQL URL|names no host/],
    ['postgres://me@host:99999/db', /port '99999'|not a valid PostgreSQL URL/],
    ['postgres://me@localhost:5432/', /names no database/],
    ['postgres://me@localhost/db?schema=Bad-Name', /schema 'Bad-Name' must be a lower-case SQL name/],
  ] as const) {
    const r = histoseek('search', join(collection, 'test'), '--db', url);
    assert.equal(r.status, 1, url);
    assert.match(r.stderr, message, url);
    assert.throws(() => parseStoreUrl(url), histoseekError('BAD_OPTION', message), url);
  }
  for (const [url, message] of [
    ['postgres://me@localhost/db?sslmode=sometimes', /sslmode must be disable, allow, prefer, .* got 'sometimes'/],
    ['postgres://me@localhost/db?connect_timeout=0', /connect_timeout must be a positive number of seconds/],
  ] as const)
    assert.throws(() => parseStoreUrl(url), histoseekError('BAD_OPTION', message), url);
});

test(
  'a server that accepts but never answers: a timeout that names the host, port and limit',
  { timeout: 120_000 },
  async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket)).listen(0, '127.0.0.1');
    await new Promise((done) => silent.once('listening', done));
    after(() => {
      held.forEach((s) => s.destroy());
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const started = performance.now();
    const r = await startHistoseek(
      'index',
      collection,
      '--layout',
      'kimia',
      '--db',
      `postgres://me:${PASSWORD}@127.0.0.1:${port}/db?connect_timeout=1`,
    ).done;
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `postgres://me:\\*\\*\\*@127\\.0\\.0\\.1:${port}/db.*no answer from 127\\.0\\.0\\.1:${port} within 1 s`,
      ),
    );
    assert.ok(!r.stderr.includes(PASSWORD) && !r.stdout.includes(PASSWORD), 'the password is never printed');
    assert.ok(performance.now() - started < 30_000);
    // Nothing listening at all is another message.
    const refused = await startHistoseek(
      'index',
      collection,
      '--layout',
      'kimia',
      '--db',
      'postgres://me@127.0.0.1:1/db',
    ).done;
    assert.match(refused.stderr, /nothing accepts connections at 127\.0\.0\.1:1/);
  },
);

const bin = debianPostgresBin();
test(
  'Debian PostgreSQL: a wrong password is refused; the right one (PGPASSWORD, ~/.pgpass) logs in and finds no pgvector; nothing is written',
  { skip: bin ? false : "Debian's postgresql package is not installed (.ci/run installs it)", timeout: 180_000 },
  async () => {
    const server = await startDebianPostgres(bin!, PASSWORD);
    const url = server.url('histoseek');
    const wrong = await startHistoseek(
      'index',
      collection,
      '--layout',
      'kimia',
      '--db',
      url.replace('postgres@', 'postgres:not-the-password@'),
    ).done;
    assert.equal(wrong.status, 1);
    assert.match(
      wrong.stderr,
      /postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres\?schema=histoseek: password authentication failed for user 'postgres'/,
    );
    assert.ok(!wrong.stderr.includes('not-the-password'));
    await assert.rejects(
      PostgresStore.open(url.replace('postgres@', 'postgres:not-the-password@'), { model: MODEL }),
      histoseekError('BAD_OPTION', /password authentication failed for user 'postgres'/),
    );
    const login = `postgres:${PASSWORD}@`;
    await assert.rejects(
      PostgresStore.open(url.replace('postgres@', login).replace('/postgres?', '/nothing_here?')),
      histoseekError('NOT_FOUND', /database 'nothing_here' does not exist on 127\.0\.0\.1:\d+/),
    );
    // No pgvector: a store can be neither made nor found there.
    await assert.rejects(
      PostgresStore.open(url.replace('postgres@', login), { model: MODEL }),
      histoseekError('NOT_FOUND', /lacks the pgvector extension \('vector'\)/),
    );

    for (const env of [{ PGPASSWORD: PASSWORD }, { PGPASSFILE: join(dir, 'pgpass') }]) {
      writeFileSync(join(dir, 'pgpass'), `127.0.0.1:${server.port}:postgres:postgres:${PASSWORD}\n`, { mode: 0o600 });
      const r = await startHistoseekWith({ env }, 'index', collection, '--layout', 'kimia', '--db', url).done;
      assert.equal(r.status, 1, JSON.stringify(env));
      assert.match(r.stderr, /lacks the pgvector extension \('vector'\); install pgvector .* nothing was written/);
      assert.ok(!r.stderr.includes(PASSWORD));
    }
    const client = new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      password: PASSWORD,
      database: 'postgres',
    });
    await client.connect();
    const schemas = (await client.query(`SELECT nspname FROM pg_namespace WHERE nspname = 'histoseek'`)).rows;
    await client.end();
    assert.deepEqual(schemas, [], 'no schema, table or row was created');
  },
);

test(
  'a store made by another model: a clear error (WRONG_MODEL), and the store is left as it was',
  { timeout: 240_000 },
  async () => {
    const pglite = await startPglite();
    const url = pglite.url('models');
    const made = await startHistoseek('index', collection, '--layout', 'kimia', '--db', url).done;
    assert.equal(made.status, 0, made.stderr);
    const other = join(dir, 'other.safetensors');
    await saveCheckpoint(
      other,
      randomModel({ preset: 'test', neckChannels: 8, neckLayers: 1, gemP: 4.6, inputSize: 64 }, 3),
    );
    for (const args of [
      ['index', collection, '--layout', 'kimia'],
      ['search', join(collection, 'test')],
    ]) {
      const r = await startHistoseek(...args, '--db', url, '--weights', other).done;
      assert.equal(r.status, 1);
      assert.match(r.stderr, /this store was built with model 'histoseek default model.*not '.*other\.safetensors'/);
    }
    await assert.rejects(
      PostgresStore.open(url, { model: MODEL }),
      histoseekError('WRONG_MODEL', /this store was built with model 'histoseek default model.*not 'test vectors'/),
    );
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${pglite.port}/postgres` });
    await client.connect();
    const { rows } = await client.query(
      `SELECT count(*)::int AS n, (SELECT value FROM models.meta WHERE key = 'generation') AS generation FROM models.items`,
    );
    await client.end();
    // Two slides, indexed as two units: two appends, and nothing since.
    assert.deepEqual(rows, [{ n: 4, generation: '2' }]);
  },
);

test(
  'no store, a damaged store, bad options and bad queries: NOT_FOUND, INDEX_DAMAGED, BAD_OPTION, BAD_QUERY',
  { timeout: 120_000 },
  async () => {
    const pglite = await startPglite();
    const sql = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${pglite.port}/postgres` });
    await sql.connect();
    try {
      // A database without pgvector enabled holds no store yet.
      await assert.rejects(
        PostgresStore.open(pglite.url('nothing')),
        histoseekError('NOT_FOUND', /pgvector is not enabled in database 'postgres'; index into it first/),
      );
      await assert.rejects(
        PostgresStore.open(pglite.url('int8'), { model: MODEL, vectors: 'i8' }),
        histoseekError('BAD_OPTION', /keeps f16 \(halfvec\) or f32 \(vector\) descriptors, not i8/),
      );
      const store = await PostgresStore.open(pglite.url('coded'), { model: MODEL, vectors: 'f32' });
      await store.append([{ source: 'a', label: 'x' }], new Float32Array(8).fill(Math.SQRT1_2 / 2), Float32Array.of(1));
      await assert.rejects(
        PostgresStore.open(pglite.url('coded'), { model: MODEL, vectors: 'f16' }),
        histoseekError('BAD_OPTION', /this store keeps f32 vectors; --vectors f16 applies when a store is created/),
      );
      await assert.rejects(
        PostgresStore.open(pglite.url('nothing')),
        histoseekError('NOT_FOUND', /holds no histoseek store in schema 'nothing' \(index into it first/),
      );
      await assert.rejects(store.vectors([1, 99]), histoseekError('NOT_FOUND', /: no item 99$/));
      const searcher = await store.openSearcher({ mode: 'exact' });
      await assert.rejects(
        searcher.search(new Float32Array(9), 1, { k: 1 }),
        histoseekError('BAD_QUERY', /1 queries of this store need 8 values \(8 each\), got 9/),
      );
      await assert.rejects(
        searcher.search(new Float32Array(8), 1, { k: 0 }),
        histoseekError('BAD_QUERY', /k must be a positive integer, got 0/),
      );
      await assert.rejects(
        store.openSearcher({ candidates: 0 }),
        histoseekError('BAD_QUERY', /candidates must be a positive integer, got 0/),
      );
      // The items table dropped under an open store, then the meta table damaged.
      await sql.query('DROP TABLE coded.items');
      await assert.rejects(
        searcher.search(new Float32Array(8), 1, { k: 1 }),
        histoseekError('INDEX_DAMAGED', /coded\.items" does not exist/),
      );
      await store.close();
      await sql.query(`DELETE FROM coded.meta WHERE key = 'dim'`);
      await assert.rejects(
        PostgresStore.open(pglite.url('coded')),
        histoseekError('INDEX_DAMAGED', /the store in schema 'coded' is damaged: its meta table has no 'dim'/),
      );
      for (const [format, message] of [
        [
          `UPDATE coded.meta SET value = 'other/1' WHERE key = 'format'`,
          /schema 'coded' holds 'other\/1', not a histoseek-pg\/1 store/,
        ],
        [`UPDATE coded.meta SET value = 'f64' WHERE key = 'vectors'`, /unknown stored precision 'f64'/],
      ] as const) {
        await sql.query(`INSERT INTO coded.meta VALUES ('dim', '8') ON CONFLICT DO NOTHING`);
        await sql.query(format);
        await assert.rejects(PostgresStore.open(pglite.url('coded')), histoseekError('INDEX_DAMAGED', message));
        await sql.query(`UPDATE coded.meta SET value = 'histoseek-pg/1' WHERE key = 'format'`);
      }
    } finally {
      await sql.end();
    }
  },
);
