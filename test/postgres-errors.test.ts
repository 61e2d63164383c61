/**
 * A PostgreSQL store that cannot be used says why, names the store without its password, and
 * writes nothing: a malformed URL, a server that never answers, a wrong password and a database
 * without pgvector (Debian's PostgreSQL, a real server), a store of another model (PGlite).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { randomModel, saveCheckpoint } from '../src/model/checkpoint.js';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import { histoseek, startHistoseek, startHistoseekWith, temporaryFolder } from './helpers.js';
import { debianPostgresBin, startDebianPostgres, startPglite } from './postgres-fixtures.js';

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

test('a malformed URL is refused with what a store URL looks like', () => {
  for (const [url, message] of [
    ['postgres://', /not a valid PostgreSQL URL|names no host/],
    ['postgres://me@host:99999/db', /port '99999'|not a valid PostgreSQL URL/],
    ['postgres://me@localhost:5432/', /names no database/],
    ['postgres://me@localhost/db?schema=Bad-Name', /schema 'Bad-Name' must be a lower-case SQL name/],
  ] as const) {
    const r = histoseek('search', join(collection, 'test'), '--db', url);
    assert.equal(r.status, 1, url);
    assert.match(r.stderr, message, url);
  }
});

test('a server that accepts but never answers: a timeout that names the host, port and limit', async () => {
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
    new RegExp(`postgres://me:\\*\\*\\*@127\\.0\\.0\\.1:${port}/db.*no answer from 127\\.0\\.0\\.1:${port} within 1 s`),
  );
  assert.ok(!r.stderr.includes(PASSWORD) && !r.stdout.includes(PASSWORD), 'the password is never printed');
  assert.ok(performance.now() - started < 30_000);
  // Nothing listening at all is another message.
  const refused = await startHistoseek('index', collection, '--layout', 'kimia', '--db', 'postgres://me@127.0.0.1:1/db')
    .done;
  assert.match(refused.stderr, /nothing accepts connections at 127\.0\.0\.1:1/);
});

const bin = debianPostgresBin();
test(
  'Debian PostgreSQL: a wrong password is refused; the right one (PGPASSWORD, ~/.pgpass) logs in and finds no pgvector; nothing is written',
  { skip: bin ? false : "Debian's postgresql package is not installed (.ci/run installs it)" },
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

test('a store made by another model: a clear error, and the store is left as it was', async () => {
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
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${pglite.port}/postgres` });
  await client.connect();
  const { rows } = await client.query(
    `SELECT count(*)::int AS n, (SELECT value FROM models.meta WHERE key = 'generation') AS generation FROM models.items`,
  );
  await client.end();
  // Two slides, indexed as two units: two appends, and nothing since.
  assert.deepEqual(rows, [{ n: 4, generation: '2' }]);
});
