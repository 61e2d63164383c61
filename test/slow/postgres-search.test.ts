/**
 * Batch search on the PostgreSQL store (PGlite with pgvector over TCP): a batch of queries is one
 * round trip, uses the HNSW index in two-stage search, and answers exactly as one query at a time
 * did before (BEGIN / SET LOCAL / SELECT / COMMIT per query, rebuilt here as the reference), with
 * and without exclusions; stored vectors read back as they were written.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { nearestSql } from '../../src/store/postgres/nearest-sql.js';
import type { Exclusion, Hit, ModelIdentity, VectorKind } from '../../src/store/types.js';
import { Random } from '../../src/util/random.js';
import { startPglite } from '../postgres-fixtures.js';

const DIM = 32;
const N = 3000;
const K = 10;
const EF_SEARCH = 40;
const MODEL: ModelIdentity = { id: 'test vectors', hash: 'test-vectors-32', dim: DIM, inputSize: 224 };

/** `n` unit vectors around 30 seeded centres: clusters whose members crowd each other's top-k. */
function clustered(n: number, seed: number): Float32Array {
  const centres = new Random(7).fillNormal(new Float32Array(30 * DIM));
  const random = new Random(seed);
  const out = new Float32Array(n * DIM);
  for (let r = 0; r < n; r++) {
    let norm = 0;
    for (let j = 0; j < DIM; j++) {
      const v = centres[(r % 30) * DIM + j] + 0.5 * random.normal();
      out[r * DIM + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < DIM; j++) out[r * DIM + j] /= Math.sqrt(norm);
  }
  return out;
}

const data = clustered(N, 1);
const queries = clustered(64, 2);
const server = await startPglite();
const sql = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${server.port}/postgres` });
await sql.connect();
// The server stops when the file's tests end, perhaps before this client is closed.
sql.on('error', () => {});
after(() => sql.end());

/**
 * PGlite serves every client in one session, so this reaches the store's statements too: in
 * two-stage search the planner takes the HNSW index, as on a large store (on these 3000 rows a scan
 * is cheaper); an exact search keeps its scan (with both off, PostgreSQL would pick the index).
 */
async function planFor(mode: 'exact' | 'two-stage'): Promise<void> {
  await sql.query(`SET enable_seqscan = ${mode === 'exact' ? 'on' : 'off'}`);
}

async function storeOf(kind: VectorKind): Promise<PostgresStore> {
  const store = await PostgresStore.open(server.url(`search_${kind}`), { model: MODEL, vectors: kind });
  if ((await store.liveCount()) === 0)
    await store.append(
      Array.from({ length: N }, (_, i) => ({ source: `s${i}`, label: `c${i % 30}`, slide: `slide-${i % 30}` })),
      data,
      new Float32Array(N).fill(1),
    );
  return store;
}

/** Today's per-query statement, one transaction per query: the answers the batch must repeat. */
async function oneAtATime(
  kind: VectorKind,
  mode: 'exact' | 'two-stage',
  query: Float32Array,
  k: number,
  excluded: ReadonlySet<number> = new Set(),
): Promise<Hit[]> {
  const type = kind === 'f16' ? 'halfvec' : 'vector';
  const literal = `[${Array.from(query, (v) => v.toPrecision(9)).join(',')}]`;
  for (let limit = excluded.size ? 2 * k : k; ; limit *= 4) {
    await sql.query('BEGIN');
    await sql.query(
      mode === 'exact'
        ? 'SET LOCAL enable_indexscan = off'
        : `SET LOCAL hnsw.ef_search = ${Math.max(EF_SEARCH, limit)}`,
    );
    const { rows } = await sql.query<{ id: string; ip: number }>(
      `SELECT id, (embedding <#> $1::${type}) AS ip FROM search_${kind}.items ORDER BY embedding <#> $1::${type}${mode === 'exact' ? ', id' : ''} LIMIT $2`,
      [literal, limit],
    );
    await sql.query('COMMIT');
    const hits = rows.map((r) => ({ row: Number(r.id), distance: Math.fround(Math.max(0, 2 + 2 * r.ip)) }));
    const kept = hits.filter((h) => !excluded.has(h.row));
    if (kept.length >= k || hits.length < limit) return kept.slice(0, k);
  }
}

/** Counts the statements this process sends to any PostgreSQL server while `work` runs. */
async function statementsDuring<T>(work: () => Promise<T>): Promise<{ result: T; statements: number }> {
  const query = pg.Client.prototype.query;
  let statements = 0;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    statements++;
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    return { result: await work(), statements };
  } finally {
    pg.Client.prototype.query = query;
  }
}

for (const kind of ['f16', 'f32'] as const) {
  describe(`${kind === 'f16' ? 'halfvec' : 'vector'} store`, () => {
    test(
      'two-stage: a batch of 64 is one statement through the HNSW index, with the rows and distances of one query at a time; 320 are three',
      { timeout: 180_000 },
      async () => {
        const store = await storeOf(kind);
        try {
          await planFor('two-stage');
          const searcher = await store.openSearcher({ mode: 'two-stage', candidates: EF_SEARCH });
          const { result: hits, statements } = await statementsDuring(() => searcher.search(queries, 64, { k: K }));
          assert.equal(statements, 1);
          for (let q = 0; q < 64; q++)
            assert.deepEqual(hits[q], await oneAtATime(kind, 'two-stage', queries.subarray(q * DIM, (q + 1) * DIM), K));
          assert.ok(hits.every((ranked) => ranked.length === K));
          // 320 queries (the 64, five times over) go as statements of 128: the same answers, in order.
          const repeated = new Float32Array(5 * queries.length);
          for (let i = 0; i < 5; i++) repeated.set(queries, i * queries.length);
          const many = await statementsDuring(() => searcher.search(repeated, 320, { k: K }));
          assert.equal(many.statements, 3);
          many.result.forEach((ranked, q) => assert.deepEqual(ranked, hits[q % 64], `query ${q}`));

          const text = nearestSql([{ vector: queries.subarray(0, DIM) }, { vector: queries.subarray(DIM, 2 * DIM) }], {
            table: `search_${kind}.items`,
            vectorType: kind === 'f16' ? 'halfvec' : 'vector',
            mode: 'two-stage',
            limit: K,
            efSearch: EF_SEARCH,
            iterativeScans: true,
          });
          const statementsOf = text.split(';\n');
          const explained = (await sql.query(
            [...statementsOf.slice(0, -1), 'SHOW hnsw.ef_search', `EXPLAIN ${statementsOf.at(-1)}`].join(';\n'),
          )) as unknown as pg.QueryResult[];
          assert.deepEqual(explained.at(-2)!.rows, [{ 'hnsw.ef_search': String(EF_SEARCH) }]);
          const plan = explained
            .at(-1)!
            .rows.map((r: Record<string, string>) => r['QUERY PLAN'])
            .join('\n');
          assert.equal(plan.match(/Index Scan using items_embedding/g)?.length, 2, plan);
          // SET LOCAL ended with the statement: the session is as it was.
          assert.deepEqual((await sql.query('SHOW hnsw.ef_search')).rows, [{ 'hnsw.ef_search': '40' }]);
          await searcher.release();
        } finally {
          await store.close();
        }
      },
    );

    test(
      'exclusions: exact leaves them out in SQL (one statement), two-stage widens only the queries still short; both as one query at a time',
      { timeout: 180_000 },
      async (t) => {
        const store = await storeOf(kind);
        try {
          // Each query excludes its own cluster's slide (every 30th row): most of its nearest rows.
          const slideOf = (q: number) => q % 30;
          const excludedRows = Array.from({ length: 30 }, (_, s) =>
            Array.from({ length: N / 30 }, (_, i) => s + 30 * i + 1),
          );
          const exclude: Exclusion = { rows: excludedRows, groupOf: Array.from({ length: 64 }, (_, q) => slideOf(q)) };
          for (const mode of ['exact', 'two-stage'] as const) {
            await planFor(mode);
            const searcher = await store.openSearcher({ mode, candidates: EF_SEARCH });
            const { result: hits, statements } = await statementsDuring(() =>
              searcher.search(queries, 64, { k: K, exclude }),
            );
            if (mode === 'exact') assert.equal(statements, 1);
            else assert.ok(statements >= 2 && statements <= 4, `${statements} statements, one per widening`);
            for (let q = 0; q < 64; q++) {
              const excluded = new Set(excludedRows[slideOf(q)]);
              const reference = await oneAtATime(kind, mode, queries.subarray(q * DIM, (q + 1) * DIM), K, excluded);
              assert.deepEqual(hits[q], reference, `${mode} query ${q}`);
              assert.ok(hits[q].every((h) => !excluded.has(h.row)));
            }
            // pgvector's HNSW scan may return fewer rows than asked; that ends the widening, as it did before.
            const short = hits.filter((ranked) => ranked.length < K).length;
            if (mode === 'exact') assert.equal(short, 0);
            else t.diagnostic(`two-stage: ${short} of 64 queries answered with fewer than ${K} hits`);
            await searcher.release();
          }
        } finally {
          await store.close();
        }
      },
    );

    test('vectors read back as stored: float32 exactly, float16 to the nearest half', { timeout: 60_000 }, async () => {
      const store = await storeOf(kind);
      try {
        const rows = (await store.allItems()).slice(0, 50).map((item) => item.row);
        const read = await store.vectors(rows);
        const written = data.subarray(0, 50 * DIM);
        if (kind === 'f32') assert.deepEqual(read, written);
        else
          read.forEach((v, i) => {
            const half =
              Math.abs(written[i]) < 2 ** -14 ? 2 ** -25 : 2 ** (Math.floor(Math.log2(Math.abs(written[i]))) - 11);
            assert.ok(Math.abs(v - written[i]) <= half, `${i}: ${v} vs ${written[i]}`);
          });
      } finally {
        await store.close();
      }
    });
  });
}
