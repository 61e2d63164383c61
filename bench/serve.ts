/**
 * `histoseek serve` under load: an index of 100 000 items (seeded random unit descriptors whose
 * sources are links to a hundred real synthetic patches, so thumbnails work), served by a child
 * process; autocannon drives search-by-id and search-by-upload (a 224² JPEG) at concurrency 1 and 8
 * and every response time is kept for exact p50/p95/p99. Yardsticks, measured in this run: one
 * image's decode + embedding (on the faster of 1 and 2 threads, as the server picks) and one exact
 * top-10 search, alone, in this process; the upload target is p95 ≤ 1.3 × their sum, the by-id
 * target p95 ≤ 50 ms at concurrency 8. The server's RSS is read from /proc.
 *
 *   npm run bench:serve [-- --items 100000 --seconds 8]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { modelIdentity, resolveModel } from '../src/cli/model-options.js';
import { decodeRgb, normalizeInto } from '../src/data/image.js';
import { renderPatch, TISSUE_CLASSES } from '../src/data/synthetic/index.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { normaliseRows } from '../src/index/indexer.js';
import { Searcher } from '../src/index/searcher.js';
import { IndexStore, type ItemRecord } from '../src/index/store.js';
import { startServer } from '../src/server/serve.js';
import { Random } from '../src/util/random.js';
import { info, median, Results, significant, timeRounds } from './common.js';

const { values: opts } = parseArgs({ options: { items: { type: 'string', default: '100000' }, seconds: { type: 'string', default: '8' }, serve: { type: 'string' } } });
const ITEMS = Number(opts.items);
const SECONDS = Number(opts.seconds);
const THREADS = 2;
const K = 10;
const IMAGES = 100;
const BATCH = 10_000;
const CONCURRENCY = [1, 8];
const ID_P95_TARGET_MS = 50;
const UPLOAD_RATIO_TARGET = 1.3;
/** Timed runs of each yardstick. */
const ROUNDS = 100;

/** Child mode: serve DB without a rate limit, print the URL as a JSON line, stop on SIGTERM. */
async function serveChild(db: string): Promise<void> {
  const { app, url } = await startServer({ db, port: 0, threads: THREADS, limits: { rate: null } });
  process.stdout.write(`${JSON.stringify({ url })}\n`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

/** A hundred real patches, reached through ITEMS distinct paths (links to their folder), so each item has a unique source. */
async function writeSources(root: string): Promise<string[]> {
  const images = path.join(root, 'images');
  await mkdir(images, { recursive: true });
  for (let i = 0; i < IMAGES; i++) {
    const pixels = renderPatch(TISSUE_CLASSES[i % TISSUE_CLASSES.length], 256, 1000 + i);
    await sharp(pixels, { raw: { width: 256, height: 256, channels: 3 } }).png().toFile(path.join(images, `p${i}.png`));
  }
  const links = path.join(root, 'links');
  await mkdir(links);
  for (let d = 0; d < Math.ceil(ITEMS / IMAGES); d++) await symlink(images, path.join(links, `d${d}`), 'dir');
  return Array.from({ length: ITEMS }, (_, i) => path.join(links, `d${Math.floor(i / IMAGES)}`, `p${i % IMAGES}.png`));
}

async function buildIndex(db: string, sources: string[]): Promise<void> {
  const model = await resolveModel({});
  const store = IndexStore.openOrCreate(db, modelIdentity(model));
  const random = new Random(7);
  try {
    for (let start = 0; start < ITEMS; start += BATCH) {
      const n = Math.min(BATCH, ITEMS - start);
      const raw = random.fillNormal(new Float32Array(n * store.model.dim));
      const items: ItemRecord[] = Array.from({ length: n }, (_, i) => ({ source: sources[start + i], label: TISSUE_CLASSES[(start + i) % TISSUE_CLASSES.length], slide: `s${(start + i) % 40}` }));
      store.append(items, normaliseRows(raw, store.model.dim), raw);
    }
  } finally {
    store.close();
  }
}

/**
 * The yardsticks: one query image's decode + preprocessing + embedding — on 1 thread or on THREADS,
 * whichever is faster for one image, as the server chooses — and one top-k search, each alone (median ms).
 */
interface Yardsticks {
  embedMs: number;
  embedThreads: number;
  searchMs: number;
  /** The same work's own tail: p95 of each, alone. */
  embedP95Ms: number;
  searchP95Ms: number;
}

async function yardsticks(db: string, jpeg: Buffer): Promise<Yardsticks> {
  const store = IndexStore.open(db);
  const model = await resolveModel({});
  const searcher = await Searcher.open(store, { threads: THREADS });
  let query: Float32Array = new Float32Array(0);
  try {
    const embedMs = new Map<number, number[]>();
    for (const threads of new Set([1, THREADS])) {
      const embedder = await OnnxEmbedder.create(model, { threads });
      const size = embedder.inputSize;
      const input = new Float32Array(3 * size * size);
      const embedSeconds = await timeRounds(async () => {
        normalizeInto((await decodeRgb(jpeg, size, 'query')).pixels, size, input, 0);
        query = normaliseRows((await embedder.embed({ shape: [1, 3, size, size], data: input })).data, store.model.dim);
      }, ROUNDS, 3);
      embedMs.set(threads, embedSeconds.map((t) => 1000 * t).sort((a, b) => a - b));
      await embedder.release();
    }
    const [embedThreads, fastest] = [...embedMs].sort((a, b) => median(a[1]) - median(b[1]))[0];
    const searchMs = (await timeRounds(() => searcher.search(query, 1, { k: K }), ROUNDS, 3)).map((t) => 1000 * t).sort((a, b) => a - b);
    return { embedMs: median(fastest), embedThreads, searchMs: median(searchMs), embedP95Ms: percentile(fastest, 95), searchP95Ms: percentile(searchMs, 95) };
  } finally {
    await searcher.release();
    store.close();
  }
}

function startChild(db: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--serve', db], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the server exited with status ${code} before listening`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, url: (JSON.parse(line) as { url: string }).url }));
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Load {
  p50: number;
  p95: number;
  p99: number;
  rps: number;
  requests: number;
  errors: number;
}

/** Runs autocannon for SECONDS, keeping every response time (autocannon's own summary has no p95). */
async function load(url: string, connections: number, request: autocannon.Request): Promise<Load> {
  const times: number[] = [];
  let errors = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, connections, duration: SECONDS, requests: [request] }, (err, done) => (err ? reject(err) : resolve(done)));
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === 200) times.push(ms);
      else errors++;
    });
  });
  errors += result.errors + result.timeouts;
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95), p99: percentile(times, 99), rps: times.length / SECONDS, requests: times.length, errors };
}

function rssMib(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

async function main(): Promise<void> {
  const results = new Results('serve');
  const root = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-serve-'));
  let child: ChildProcess | undefined;
  try {
    info(`writing ${IMAGES} patches and an index of ${ITEMS} items`);
    const db = path.join(root, 'db');
    await buildIndex(db, await writeSources(root));
    const jpeg = await sharp(renderPatch('tumour', 224, 99), { raw: { width: 224, height: 224, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const { embedMs, embedThreads, searchMs, embedP95Ms, searchP95Ms } = await yardsticks(db, jpeg);
    results.emit({ case: 'yardsticks', items: ITEMS, embed_ms: significant(embedMs), embed_p95_ms: significant(embedP95Ms), embed_threads: embedThreads, search_ms: significant(searchMs), search_p95_ms: significant(searchP95Ms), threads: THREADS });

    const started = await startChild(db);
    child = started.child;
    const boundary = 'histoseek-bench';
    const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="query.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`), jpeg, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const random = new Random(3);
    const scenarios: [string, autocannon.Request][] = [
      ['search_by_id', { method: 'GET', setupRequest: (req) => ({ ...req, path: `/api/search?item=${random.int(ITEMS)}&k=${K}` }) }],
      ['search_by_upload', { method: 'POST', path: `/api/search?k=${K}`, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body }],
    ];
    const measured = new Map<string, Load>();
    for (const [name, request] of scenarios) {
      for (const connections of CONCURRENCY) {
        await load(started.url, connections, request).catch(() => undefined); // warm-up: thumbnails, JIT, onnxruntime arenas
        info(`${name}, concurrency ${connections}, ${SECONDS} s`);
        const r = await load(started.url, connections, request);
        measured.set(`${name}/${connections}`, r);
        results.emit({ case: name, concurrency: connections, p50_ms: r.p50, p95_ms: r.p95, p99_ms: r.p99, requests_per_s: significant(r.rps), requests: r.requests, errors: r.errors, server_rss_mib: significant(rssMib(child.pid!).rss) });
      }
    }
    const memory = rssMib(child.pid!);
    const idP95 = measured.get('search_by_id/8')!.p95;
    const upload = measured.get('search_by_upload/1')!;
    const uploadRatio = upload.p95 / (embedMs + searchMs);
    results.emit({
      case: 'targets',
      search_by_id_p95_c8_ms: idP95,
      search_by_id_target_ms: ID_P95_TARGET_MS,
      search_by_id_ok: idP95 <= ID_P95_TARGET_MS,
      upload_p95_c1_over_embed_plus_search: significant(uploadRatio),
      upload_p50_c1_over_embed_plus_search: significant(upload.p50 / (embedMs + searchMs)),
      // The tail against the same work's own tail alone: what the server adds, not the components' jitter.
      upload_p95_c1_over_their_p95: significant(upload.p95 / (embedP95Ms + searchP95Ms)),
      upload_target_ratio: UPLOAD_RATIO_TARGET,
      upload_ok: uploadRatio <= UPLOAD_RATIO_TARGET,
      server_rss_mib: significant(memory.rss),
      server_peak_rss_mib: significant(memory.peak),
    });
    info(`results: ${await results.save()}`);
  } finally {
    child?.kill('SIGTERM');
    await rm(root, { recursive: true, force: true });
  }
}

if (opts.serve) await serveChild(opts.serve);
else await main();
