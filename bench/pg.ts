/**
 * bench:pg — the PostgreSQL store (pgvector) against the local folder store, same vectors, same run:
 * insert throughput, single-query and per-batch latency (exact and two-stage), recall@10 and bytes
 * per item.
 *
 *   node --import tsx bench/pg.ts [--n 100000] [--queries 200] [--d 256] [--vectors f16|f32] [--stores postgres,folder]
 *
 * --vectors: the stored precision of both stores (f16: halfvec, the default; f32: vector). PGlite
 * keeps an HNSW index over halfvec about 4× slower than over vector (float16 conversions in WASM).
 *
 * PostgreSQL here is PGlite (PostgreSQL 18 + pgvector compiled to WASM, scripts/pglite-server.ts)
 * in a child process, reached over TCP like a server: one single-threaded backend, so its figures
 * bound what a real PostgreSQL 16+ does from below, they do not stand for it.
 *
 * Vectors: bench:scale's SyntheticSpace (scale-space.ts) around 1 000 seeded random unit bases
 * instead of embeddings of synthetic patches (no model needed): row r = normalise(base + σ·g), σ
 * putting a row about 0.5 (L2) from its base, i.e. 1 000 clusters of isotropic noise; queries come
 * from a stream never indexed. Items are { source: bench/<i>, label: the base's tissue class, slide:
 * slide-<⌊i/100⌋> }, norms 1, appended in batches of 1 000 (the time of the appends alone counts:
 * pgvector's HNSW index and the folder's graph are both kept up to date as rows arrive).
 *
 * Search: mode exact (a scan of every row) and two-stage (PostgreSQL: pgvector's HNSW index with
 * hnsw.ef_search = 160; folder: its int8 graph's 160 candidates re-ranked), one query at a time
 * after 3 warm-up queries; p50/p95 by nearest rank. Then the same queries in batches of 16 and of 64
 * (one `search` call each, after one warm-up batch): batch<B>_p50_ms / batch<B>_p95_ms per batch,
 * and batch_matches_single (every batch answer has the rows and distances of the single queries).
 * recall@10 is against a brute-force float32
 * search in JS over the vectors as generated (before they are stored as float16), like the
 * archive-scale table of docs/performance.md. The folder store is searched read-only after its writer closed,
 * as `serve` searches it. bytes_per_item: PostgreSQL pg_total_relation_size of the items table
 * (heap, HNSW, B-trees) / n — the other tables are a few rows; folder: every file of the folder / n.
 *
 * Prints one JSON line per (store, mode) and writes them to bench/results/pg-<time>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { folderBytes } from '../src/api/slide-summary.js';
import { FolderStore } from '../src/store/folder/folder-store.js';
import type { ItemStore } from '../src/store/item-store.js';
import type { Hit, ItemRecord, ModelIdentity } from '../src/store/types.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { BENCH_DIR, info, Results, significant } from './common.js';
import { latencySummary, recallAtK } from './scale-metrics.js';
import { cyclicLabels, randomBases, sigmaForDistance, SyntheticSpace } from './scale-space.js';

const K = 10;
const BATCH = 1000;
const CANDIDATES = 160;
const WARMUP = 3;
/** Queries per `search` call in the batch latency figures. */
const BATCH_SIZES = [16, 64] as const;
const BASES = 1000;
/** L2 distance of a row from its base (unit vectors). */
const SPREAD = 0.5;
const SEED = 20261203;
/** Exact-search threads of the folder store (bench:scale's serving figure uses 2); PGlite has one backend. */
const THREADS = 2;
const SCHEMA = 'bench_pg';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '200' },
    d: { type: 'string', default: '256' },
    vectors: { type: 'string', default: 'f16' },
    stores: { type: 'string', default: 'postgres,folder' },
  },
});
const stores = new Set(opts.stores.split(','));
for (const store of stores)
  if (store !== 'postgres' && store !== 'folder')
    throw new Error(`--stores lists postgres and/or folder, got '${store}'`);
if (opts.vectors !== 'f16' && opts.vectors !== 'f32')
  throw new Error(`--vectors must be f16 or f32, got '${opts.vectors}'`);
const kind: 'f16' | 'f32' = opts.vectors;
const n = Number(opts.n);
const nQueries = Number(opts.queries);
const d = Number(opts.d);
for (const [name, value] of [
  ['--n', n],
  ['--queries', nQueries],
  ['--d', d],
] as const) {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer; usage: bench/pg.ts [--n 100000] [--queries 200] [--d 256]`);
}
if (n < K) throw new Error(`--n must be at least ${K}`);

/** The identity every bench:pg store of this width shares (no model is run). */
const model: ModelIdentity = { id: `bench:pg synthetic d=${d}`, hash: `bench-pg-d${d}`, dim: d, inputSize: 224 };
const cpu = cpus()[0]?.model ?? 'unknown';

// ---- cleanup: the PGlite child and the temporary folder go, also on an error or Ctrl-C ----
let pgliteChild: ChildProcess | null = null;
const tempDirs: string[] = [];
function cleanUp(): void {
  if (pgliteChild && pgliteChild.exitCode === null && pgliteChild.signalCode === null) pgliteChild.kill('SIGTERM');
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
process.once('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

/** scripts/pglite-server.ts in a child process; resolves with its port once it listens. */
async function startPglite(): Promise<{ port: number; stop(): Promise<void> }> {
  const script = path.join(BENCH_DIR, '..', 'scripts', 'pglite-server.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: path.join(BENCH_DIR, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  pgliteChild = child;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the PGlite server exited with code ${code} before listening`)));
    createInterface({ input: child.stdout! }).once('line', (line) =>
      resolve((JSON.parse(line) as { port: number }).port),
    );
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  };
  return { port, stop };
}

// ---- the vectors, the queries and their float32 ground truth ----
const bases = randomBases(BASES, d, SEED);
const space = new SyntheticSpace(
  {
    d,
    basesFile: '(random bases, in memory)',
    count: BASES,
    labels: cyclicLabels(BASES),
    sigma: sigmaForDistance(SPREAD, d),
    seed: SEED,
    origin: 'seeded random bases',
  },
  bases,
);
info(`drawing ${n} vectors and ${nQueries} queries, d ${d}`);
const drawn = space.rows(0, n);
const vectors = drawn.vectors;
const items: ItemRecord[] = Array.from(drawn.bases, (base, i) => ({
  source: `bench/${i}`,
  label: space.spec.labels[base],
  slide: `slide-${Math.floor(i / 100)}`,
}));
const queries = space.queries(nQueries);

/** The K nearest rows of every query by float32 inner product (ties by row), as [queries × K] indices. */
function bruteForceTruth(): Int32Array {
  const truth = new Int32Array(nQueries * K);
  const bestDot = new Float64Array(K);
  const bestId = new Int32Array(K);
  for (let q = 0; q < nQueries; q++) {
    bestDot.fill(-Infinity);
    bestId.fill(-1);
    const qo = q * d;
    for (let i = 0; i < n; i++) {
      const io = i * d;
      let dot = 0;
      for (let j = 0; j < d; j++) dot += queries[qo + j] * vectors[io + j];
      if (dot <= bestDot[K - 1]) continue; // equal: the earlier row stays (ties by row)
      let at = K - 1;
      while (at > 0 && dot > bestDot[at - 1]) {
        bestDot[at] = bestDot[at - 1];
        bestId[at] = bestId[at - 1];
        at--;
      }
      bestDot[at] = dot;
      bestId[at] = i;
    }
    truth.set(bestId, q * K);
  }
  return truth;
}
info('brute-force float32 ground truth');
const truth = bruteForceTruth();

// ---- measuring one store ----
type StoreName = 'postgres-pglite' | 'folder';

/** Appends every item in batches; the items per second of the appends alone. */
async function insertAll(store: ItemStore, name: StoreName): Promise<number> {
  const norms = new Float32Array(BATCH).fill(1);
  let seconds = 0;
  for (let first = 0; first < n; first += BATCH) {
    const count = Math.min(BATCH, n - first);
    const batch = vectors.subarray(first * d, (first + count) * d);
    const start = performance.now();
    await store.append(items.slice(first, first + count), batch, norms.subarray(0, count));
    seconds += (performance.now() - start) / 1000;
    if ((first / BATCH) % 10 === 9 || first + count === n)
      info(`${name}: ${first + count}/${n} appended (${seconds.toFixed(1)} s)`);
  }
  const live = await store.liveCount();
  if (live !== n) throw new Error(`${name}: holds ${live} live items after appending ${n}`);
  return n / seconds;
}

/**
 * Single-query p50/p95 and recall@10 of one searcher (rows are mapped back to item indices by
 * source), then per-batch p50/p95 for BATCH_SIZES and whether the batches answered as the singles did.
 */
async function measureSearch(store: ItemStore, mode: 'exact' | 'two-stage', rowToIndex: Map<number, number>) {
  const searcher = await store.openSearcher({ mode, candidates: CANDIDATES, threads: THREADS });
  if (searcher.mode !== mode) throw new Error(`${store.location}: asked for a ${mode} searcher, got ${searcher.mode}`);
  try {
    const query = (q: number, count = 1) => queries.subarray(q * d, (q + count) * d);
    for (let q = Math.max(0, nQueries - WARMUP); q < nQueries; q++) await searcher.search(query(q), 1, { k: K });
    const ms: number[] = [];
    const answers: { q: number; ids: number[] }[] = [];
    const singles: Hit[][] = [];
    for (let q = 0; q < nQueries; q++) {
      const start = performance.now();
      const [hits] = await searcher.search(query(q), 1, { k: K });
      ms.push(performance.now() - start);
      singles.push(hits);
      answers.push({ q, ids: hits.map((h) => rowToIndex.get(h.row) ?? -1) });
    }
    const latency = latencySummary(ms);
    const batches: Record<string, number | boolean> = {};
    let matches = true;
    for (const size of BATCH_SIZES) {
      if (nQueries < size) continue;
      await searcher.search(query(0, size), size, { k: K });
      const batchMs: number[] = [];
      for (let first = 0; first + size <= nQueries; first += size) {
        const start = performance.now();
        const hits = await searcher.search(query(first, size), size, { k: K });
        batchMs.push(performance.now() - start);
        matches &&= hits.every((ranked, i) => sameHits(ranked, singles[first + i]));
      }
      const summary = latencySummary(batchMs);
      batches[`batch${size}_p50_ms`] = summary.p50;
      batches[`batch${size}_p95_ms`] = summary.p95;
    }
    return {
      p50_ms: latency.p50,
      p95_ms: latency.p95,
      recall_at_10: recallAtK(answers, truth, K),
      ...batches,
      batch_matches_single: matches,
    };
  } finally {
    await searcher.release();
  }
}

function sameHits(a: Hit[], b: Hit[]): boolean {
  return a.length === b.length && a.every((hit, i) => hit.row === b[i].row && hit.distance === b[i].distance);
}

async function rowsToIndices(store: ItemStore): Promise<Map<number, number>> {
  return new Map((await store.allItems()).map((item) => [item.row, Number(item.source.slice('bench/'.length))]));
}

const results = new Results('pg');

function emit(
  store: StoreName,
  mode: 'exact' | 'two-stage',
  insertPerS: number,
  measured: Awaited<ReturnType<typeof measureSearch>>,
  extra: Record<string, unknown>,
): void {
  results.emit({
    bench: 'pg',
    store,
    mode,
    vectors: kind,
    n,
    d,
    insert_items_per_s: significant(insertPerS),
    ...measured,
    cpu,
    ...extra,
    queries: nQueries,
    k: K,
    candidates: CANDIDATES,
    truth: 'brute-force float32 (JS)',
  });
}

/** How PostgreSQL plans the two-stage query (does it use the HNSW index?) and the items table's bytes. */
async function pgDetails(port: number): Promise<{ plan: string; bytes: Record<string, number> }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const literal = `[${Array.from(queries.subarray(0, d)).join(',')}]`;
    await client.query('BEGIN');
    await client.query(`SET LOCAL hnsw.ef_search = ${CANDIDATES}`);
    const explained = await client.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (FORMAT JSON) SELECT id FROM ${SCHEMA}.items ORDER BY embedding <#> $1::${kind === 'f16' ? 'halfvec' : 'vector'} LIMIT ${K}`,
      [literal],
    );
    await client.query('COMMIT');
    const nodes: string[] = [];
    const walk = (node: { 'Node Type': string; 'Index Name'?: string; Plans?: unknown[] }) => {
      nodes.push(node['Index Name'] ? `${node['Node Type']} using ${node['Index Name']}` : node['Node Type']);
      for (const child of node.Plans ?? []) walk(child as typeof node);
    };
    walk((explained.rows[0]['QUERY PLAN'] as { Plan: Parameters<typeof walk>[0] }[])[0].Plan);
    const sizes = await client.query<Record<string, string>>(
      `SELECT pg_total_relation_size('${SCHEMA}.items') AS total, pg_relation_size('${SCHEMA}.items') AS heap,
              pg_relation_size('${SCHEMA}.items_embedding') AS hnsw, pg_indexes_size('${SCHEMA}.items') AS indexes`,
    );
    const bytes = Object.fromEntries(Object.entries(sizes.rows[0]).map(([key, value]) => [key, Number(value)]));
    return { plan: nodes.join(' > '), bytes };
  } finally {
    await client.end();
  }
}

async function benchPostgres(): Promise<void> {
  const server = await startPglite();
  try {
    info(`PGlite listening on 127.0.0.1:${server.port}`);
    const store = await PostgresStore.open(`postgres://postgres@127.0.0.1:${server.port}/postgres?schema=${SCHEMA}`, {
      model,
      vectors: kind,
    });
    try {
      const insertPerS = await insertAll(store, 'postgres-pglite');
      const details = await pgDetails(server.port);
      info(`postgres-pglite: two-stage plan ${details.plan}`);
      const rowToIndex = await rowsToIndices(store);
      const size = {
        bytes_per_item: significant(details.bytes.total / n),
        heap_bytes_per_item: significant(details.bytes.heap / n),
        hnsw_bytes_per_item: significant(details.bytes.hnsw / n),
      };
      for (const mode of ['exact', 'two-stage'] as const) {
        info(`postgres-pglite: ${nQueries} ${mode} queries`);
        emit('postgres-pglite', mode, insertPerS, await measureSearch(store, mode, rowToIndex), {
          ...size,
          ...(mode === 'two-stage' ? { plan: details.plan } : {}),
        });
      }
    } finally {
      await store.close();
    }
  } finally {
    await server.stop();
  }
}

async function benchFolder(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'histoseek-bench-pg-'));
  tempDirs.push(dir);
  const index = path.join(dir, 'index');
  const writer = FolderStore.openOrCreate(index, model, { vectors: kind });
  let insertPerS: number;
  try {
    insertPerS = await insertAll(writer, 'folder');
  } finally {
    await writer.close(); // saves the graph
  }
  const bytesPerItem = significant((await folderBytes(index)) / n);
  const store = FolderStore.open(index);
  try {
    const rowToIndex = await rowsToIndices(store);
    for (const mode of ['exact', 'two-stage'] as const) {
      info(`folder: ${nQueries} ${mode} queries`);
      emit('folder', mode, insertPerS, await measureSearch(store, mode, rowToIndex), {
        bytes_per_item: bytesPerItem,
        threads: THREADS,
      });
    }
  } finally {
    await store.close();
  }
}

try {
  if (stores.has('postgres')) await benchPostgres();
  if (stores.has('folder')) await benchFolder();
  info(`results in ${await results.save()}`);
} finally {
  cleanUp();
}
