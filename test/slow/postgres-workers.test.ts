/**
 * Several processes on one PostgreSQL store (PGlite with pgvector over TCP): two indexers share a
 * 24-slide collection and one is killed midway; a server sees another process's removal at once;
 * a folder index migrated into PostgreSQL answers with the same top-10.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { fromSql } from 'pgvector';
import { writeKimiaCollection } from '../../src/data/synthetic/index.js';
import { openStore } from '../../src/store/open-store.js';
import { createServer } from '../../src/server/serve.js';
import { startHistoseek, temporaryFolder } from '../helpers.js';
import { startPglite } from '../postgres-fixtures.js';
import { multipart } from '../server-fixtures.js';

const dir = await temporaryFolder('histoseek-pgwork-');
const synthetic = join(dir, 'synthetic');
await writeKimiaCollection(synthetic, {
  seed: 21,
  slides: 24,
  slideSize: 1024,
  patchSize: 128,
  trainPerSlide: 1,
  testPerSlide: 1,
  classes: ['tumour', 'stroma', 'lymphocytes', 'mucosa'],
});
const slides = join(synthetic, 'slides');
const folder = join(dir, 'folder');
const pglite = await startPglite();
const sql = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${pglite.port}/postgres` });
await sql.connect();
// The server stops when the file's tests end, perhaps before this client is closed.
sql.on('error', () => {});
test.after(() => sql.end());

async function succeed(...args: string[]) {
  const r = await startHistoseek(...args).done;
  assert.equal(r.status, 0, `histoseek ${args.join(' ')}\n${r.stderr}`);
  return r;
}

/** source → descriptor of every item in a PostgreSQL schema. */
async function vectorsIn(schema: string): Promise<Map<string, number[]>> {
  const { rows } = await sql.query<{ source: string; v: string }>(
    `SELECT source, embedding::text AS v FROM ${schema}.items`,
  );
  return new Map(rows.map((r) => [r.source, fromSql(r.v) as number[]]));
}

test(
  'two indexers share a collection; one killed midway, the other finishes it: every patch once, with the single-process vectors',
  { timeout: 600_000 },
  async (t) => {
    await succeed('index', slides, '--layout', 'slides', '--db', folder, '--batch', '8');
    const url = pglite.url('shared');
    const a = startHistoseek('index', slides, '--layout', 'slides', '--db', url, '--batch', '8', '--lease', '2');
    const b = startHistoseek('index', slides, '--layout', 'slides', '--db', url, '--batch', '8', '--lease', '2');
    const exited: string[] = [];
    for (const [name, worker] of [
      ['A', a],
      ['B', b],
    ] as const)
      void worker.done.then((r) => exited.push(`worker ${name} exited (${r.status ?? r.signal}):\n${r.stderr}`));
    // Kill A while it holds a claim, once something is stored.
    for (let waited = 0; ; waited += 50) {
      assert.deepEqual(exited, [], 'a worker ended before A was seen holding a claim');
      const held = await sql.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'shared' AND tablename = 'claims'`);
      if (held.rows.length) {
        const mine = await sql.query(`SELECT unit FROM shared.claims WHERE worker LIKE $1`, [`%:${a.child.pid}`]);
        const stored = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM shared.items`);
        if (mine.rows.length && stored.rows[0].n > 0) break;
      }
      assert.ok(waited < 120_000, 'worker A never claimed a slide');
      await new Promise((done) => setTimeout(done, 50));
    }
    a.child.kill('SIGKILL');
    assert.equal((await a.done).signal, 'SIGKILL');
    const survivor = await b.done;
    assert.equal(survivor.status, 0, survivor.stderr);

    const single = await openStore(folder);
    const reference = new Map((await single.allItems()).map((item) => [item.source, item]));
    const referenceVectors = await single.vectors([...reference.values()].map((item) => item.row));
    await single.close();
    const shared = await vectorsIn('shared');
    const {
      rows: [counts],
    } = await sql.query<{ n: number; sources: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT source)::int AS sources FROM shared.items`,
    );
    assert.equal(counts.n, counts.sources, 'no source stored twice');
    assert.deepEqual([...shared.keys()].sort(), [...reference.keys()].sort(), 'the same patches as one process');
    assert.ok(reference.size > 100, `${reference.size} patches`);
    let worst = 0;
    [...reference.values()].forEach((item, i) => {
      const v = shared.get(item.source)!;
      for (let j = 0; j < v.length; j++) worst = Math.max(worst, Math.abs(v[j] - referenceVectors[i * v.length + j]));
    });
    assert.ok(worst < 2e-3, `largest difference from the single-process vectors: ${worst} (float16 steps)`);
    t.diagnostic(`${reference.size} patches; largest difference from the single-process vectors ${worst}`);
    assert.match(survivor.stderr, new RegExp(`all workers: ${reference.size}/${reference.size} stored`));
    assert.deepEqual((await sql.query('SELECT * FROM shared.claims')).rows, [], 'every claim released');
  },
);

test(
  'a running server sees a slide that another process removes, on its next request',
  { timeout: 240_000 },
  async (t) => {
    const url = pglite.url('shared');
    const app = await createServer({ db: url, webRoot: dir, limits: { rate: null } });
    try {
      const before = (await app.inject('/api/index')).json();
      const victim = before.slides[3].slide as string;
      const query = readFileSync(join(synthetic, 'train', victim, readdirSync(join(synthetic, 'train', victim))[0]));
      const hits = (await app.inject({ method: 'POST', url: '/api/search?k=10', ...multipart(query) })).json();
      assert.ok(
        hits.results.some((r: { slide: string }) => r.slide === victim),
        'its own slide answers first',
      );
      await succeed('index', '--db', url, '--remove-slide', victim);
      const removedAt = performance.now();
      const after = (await app.inject('/api/index')).json();
      const again = (await app.inject({ method: 'POST', url: '/api/search?k=10', ...multipart(query) })).json();
      const elapsed = performance.now() - removedAt;
      assert.equal(after.generation, before.generation + 1);
      assert.equal(after.items, before.items - before.slides[3].count);
      assert.ok(!after.slides.some((s: { slide: string }) => s.slide === victim));
      assert.equal(again.results.length, 10);
      assert.ok(again.results.every((r: { slide: string }) => r.slide !== victim));
      assert.ok(elapsed < 1000, `seen after ${elapsed} ms`);
      t.diagnostic(`removal seen ${elapsed.toFixed(0)} ms after the removing process exited`);
    } finally {
      await app.close();
    }
  },
);

test(
  'migrate copies a folder index into PostgreSQL: the same top-10 (ids by path, distances to float16 precision); a rerun copies nothing',
  { timeout: 600_000 },
  async () => {
    const url = pglite.url('migrated');
    const first = await succeed('migrate', '--from', folder, '--to', url);
    const copied = JSON.parse(first.stdout);
    const again = JSON.parse((await succeed('migrate', '--from', folder, '--to', url)).stdout);
    assert.deepEqual(again, { copied: 0, skipped: copied.copied });
    for (const slide of ['s0', 's7']) {
      const query = join(synthetic, 'test', slide, readdirSync(join(synthetic, 'test', slide))[0]);
      const [local, postgres] = await Promise.all(
        [folder, url].map(
          async (db) => JSON.parse((await succeed('search', query, '--db', db, '--json', '--exact')).stdout).results,
        ),
      );
      assert.deepEqual(
        postgres.map((r: { path: string }) => r.path),
        local.map((r: { path: string }) => r.path),
      );
      postgres.forEach((r: { distance: number }, i: number) =>
        assert.ok(Math.abs(r.distance - local[i].distance) < 1e-3),
      );
    }
  },
);
