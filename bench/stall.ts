/**
 * Does a slow search stall the server? An index of ITEMS (10⁶) random unit descriptors (the
 * default model's 256-d, stored f16, seeded) is served with every search forced exact
 * (`search: { mode: 'exact' }`, the `--exact` of the command), by this file run as a child
 * (`--serve DB`, from source, so no build is needed). While SEARCHERS clients keep sending
 * `GET /api/search?item=R` — each an exact scan of every row — one prober asks, one after another
 * with a short pause, for `GET /api/index`, the page (`/`) and its script (`/assets/*.js`), PROBES
 * times each; then the same probes run on the idle server. It prints, per route, p50/p95/max "during
 * exact search" beside "idle", the searches' own latency, and whether the routes answered within
 * TARGET_P95_MS at p95 during the searches.
 *
 *   npm run bench:stall [-- --work DIR --items 1000000 --probes 200 --searchers 2]
 *
 * `--work DIR` keeps the index in DIR/db and reuses it on the next run; without it the index is
 * built in a temporary folder and removed (see buildIndex for how it is written quickly).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { modelIdentity, resolveModel } from '../src/api/models.js';
import Database from 'better-sqlite3';
import { normaliseRows } from '../src/store/vectors/normalise.js';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import { VectorColumn } from '../src/store/vectors/column.js';
import { startServer } from '../src/server/serve.js';
import { Random } from '../src/util/random.js';
import { info, percentile, processRssMib, Results, significant } from './common.js';

const { values: opts } = parseArgs({
  options: {
    serve: { type: 'string' },
    work: { type: 'string' },
    items: { type: 'string', default: '1000000' },
    probes: { type: 'string', default: '200' },
    searchers: { type: 'string', default: '2' },
    'gap-ms': { type: 'string', default: '20' },
  },
});
const ITEMS = Number(opts.items);
const PROBES = Number(opts.probes);
const SEARCHERS = Number(opts.searchers);
const GAP_MS = Number(opts['gap-ms']);
const THREADS = 2;
const K = 10;
const BATCH = 50_000;
const LABELS = 8;
const SLIDES = 1000;
const TARGET_P95_MS = 50;
const WARMUP_ROUNDS = 5;
/** The server must be listening within this (it opens the index and loads the model). */
const START_TIMEOUT_MS = 5 * 60_000;
/** No request may take longer: a stall past this is reported as a failure, not waited out. */
const REQUEST_TIMEOUT_MS = 120_000;

/**
 * Writes ITEMS seeded random unit vectors and their items into a new index: the store creates it
 * (schema, model), the vectors go through its VectorColumn, and the items into format 3's tables in
 * one SQL statement each. Appending them through the store takes about a millisecond an item on a
 * busy machine (six statements each), most of an hour at 10⁶. The index has no search graph:
 * every search here is exact. An index already in --work is reused if it holds ITEMS rows.
 */
async function buildIndex(db: string): Promise<void> {
  if (existsSync(path.join(db, 'histoseek.sqlite'))) {
    const store = FolderIndex.open(db);
    const rows = store.rows;
    store.close();
    if (rows !== ITEMS) throw new Error(`${db}: holds ${rows} rows, not --items ${ITEMS}; give another --work`);
    return;
  }
  const model = modelIdentity(await resolveModel({}));
  FolderIndex.openOrCreate(db, model, { vectors: 'f16' }).close();
  const column = new VectorColumn(db, 'f16', model.dim, true);
  try {
    for (let first = 0; first < ITEMS; first += BATCH) {
      const n = Math.min(BATCH, ITEMS - first);
      const raw = new Random(first + 1).fillNormal(new Float32Array(n * model.dim));
      column.write(first, normaliseRows(raw, model.dim), n);
    }
    column.sync();
  } finally {
    column.close();
  }
  const sqlite = new Database(path.join(db, 'histoseek.sqlite'));
  const numbers = (count: number) =>
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${count})`;
  try {
    sqlite.transaction(() => {
      sqlite.exec(`${numbers(LABELS)} INSERT INTO labels (id, name) SELECT i + 1, 'class-' || i FROM n`);
      sqlite.exec(
        `${numbers(ITEMS)} INSERT INTO sources (id, path, slide) SELECT i + 1, '/bench/stall/item-' || i || '.png', 'slide-' || (i % ${SLIDES}) FROM n`,
      );
      sqlite.exec(
        `${numbers(ITEMS)} INSERT INTO patches (row, source_id, label_id, region_in_source, norm) SELECT i, i + 1, i % ${LABELS} + 1, 0, 20 FROM n`,
      );
      sqlite.prepare("UPDATE meta SET value = ? WHERE key IN ('rows', 'generation')").run(String(ITEMS));
    })();
  } finally {
    sqlite.close();
  }
  info(`wrote ${ITEMS} items`);
}

/** The child: serves `db` with exact search until killed; prints its URL. */
async function serve(db: string): Promise<void> {
  const { url } = await startServer({
    db,
    port: 0,
    threads: THREADS,
    search: { mode: 'exact' },
    limits: { rate: null },
  });
  process.stdout.write(`listening at ${url} \n`);
}

function startChild(db: string): Promise<{ child: ChildProcess; url: string }> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, script, '--serve', db], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not listen within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with status ${code} before listening`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const url = / at (http:\/\/\S+) /.exec(line)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url });
      }
    });
  });
}

/** One GET, read to the end; its milliseconds. A non-200 answer is an error naming the route. */
async function timedGet(url: string): Promise<number> {
  const start = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`GET ${url}: status ${response.status}`);
  return performance.now() - start;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Summary {
  p50_ms: number;
  p95_ms: number;
  max_ms: number;
  n: number;
}

function summary(times: number[]): Summary {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    p50_ms: significant(percentile(sorted, 50)),
    p95_ms: significant(percentile(sorted, 95)),
    max_ms: significant(sorted.at(-1)!),
    n: sorted.length,
  };
}

/** `rounds` rounds over the routes, one request at a time, GAP_MS apart: each route's latencies. */
async function probe(routes: Record<string, string>, rounds = PROBES): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>(Object.keys(routes).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, url] of Object.entries(routes)) {
      times.get(name)!.push(await timedGet(url));
      await sleep(GAP_MS);
    }
  }
  return times;
}

/** SEARCHERS clients each sending exact searches back to back until `stop` is set; every search's ms. */
function searchLoad(base: string): { stop: () => Promise<number[]> } {
  const random = new Random(11);
  const times: number[] = [];
  let running = true;
  const clients = Array.from({ length: SEARCHERS }, async () => {
    while (running) times.push(await timedGet(`${base}api/search?item=${random.int(ITEMS)}&k=${K}`));
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(clients);
      return times;
    },
  };
}

/** The page's routes: the API's index summary, the page, and the script the page loads. */
async function routes(base: string): Promise<Record<string, string>> {
  const page = await (await fetch(base)).text();
  const script = /<script[^>]+src="\/?([^"]+\.js)"/.exec(page)?.[1];
  if (!script) throw new Error(`${base}: the page names no script (is the web page built? npm run build:web)`);
  return { api_index: `${base}api/index`, page: base, script: `${base}${script}` };
}

async function main(): Promise<void> {
  const results = new Results('stall');
  const root = opts.work ?? (await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-stall-')));
  const db = path.join(root, 'db');
  let child: ChildProcess | undefined;
  try {
    info(`${existsSync(db) ? 'checking' : 'building'} an index of ${ITEMS} items in ${db}`);
    await buildIndex(db);
    info('starting the server (exact search)');
    const started = await startChild(db);
    child = started.child;
    const base = started.url;
    const targets = await routes(base);
    // Warm-up: the per-generation counts behind /api/index, the vector file's pages, onnxruntime's first runs.
    await probe(targets, WARMUP_ROUNDS);
    for (let i = 0; i < 3; i++) await timedGet(`${base}api/search?item=${i}&k=${K}`);

    info(
      `probing ${Object.keys(targets).join(', ')} ${PROBES} times each, during ${SEARCHERS} clients' exact searches`,
    );
    const load = searchLoad(base);
    const during = await probe(targets);
    const searchMs = await load.stop();
    info('probing the idle server');
    const idle = await probe(targets);

    const common = {
      items: ITEMS,
      dim: 256,
      vectors: 'f16',
      search: 'exact',
      searchers: SEARCHERS,
      node: process.version,
    };
    for (const name of Object.keys(targets)) {
      const d = summary(during.get(name)!);
      results.emit({
        ...common,
        case: name,
        during_exact_search: d,
        idle: summary(idle.get(name)!),
        target_p95_ms: TARGET_P95_MS,
        ok: d.p95_ms <= TARGET_P95_MS,
      });
    }
    results.emit({ ...common, case: 'search', during_exact_search: summary(searchMs) });
    results.emit({
      ...common,
      case: 'machine',
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      load_average: os.loadavg().map((l) => significant(l, 3)),
      server_rss_mib: significant(processRssMib(child.pid!).rss),
    });
    info(`results: ${await results.save()}`);
  } finally {
    child?.kill('SIGTERM');
    if (!opts.work) await rm(root, { recursive: true, force: true });
  }
}

if (opts.serve) await serve(opts.serve);
else await main();
