/**
 * Soak test: `histoseek serve` (the built command, `bin/histoseek.js`; `npm run bench:soak` builds
 * it first) under mixed load for N minutes while another process changes its index.
 *
 * Method. A demo index is made in a temporary folder (`histoseek demo --quick`: 6 synthetic slides,
 * written as pyramidal TIFFs the server tiles, and 72 of their patches indexed) and served on
 * 127.0.0.1 with a rate limit too high to bite. CONCURRENCY clients (soak-load.ts) each send one
 * request at a time, picked at random by weight: search by an uploaded test patch, search by an
 * indexed item, search by a slide region, a Deep Zoom tile, a result's thumbnail. The server has no
 * region-search route (region search is the CLI's `search --slide S --region`), so a region search
 * here is what a client can do with the routes there are: upload a full-resolution Deep Zoom tile of
 * a slide (a 256-px region of it) with `exclude_slide` set to that slide. Meanwhile a writer
 * (soak-writer.ts) runs the real CLI, one process at a time: `histoseek index DIR --layout slides`
 * appends two of the demo's slides under new names, and after 10 s `histoseek index --remove-slide`
 * removes them, each removal's time taken when its process has exited; then a 5-s pause, and again.
 * Every loop stops by itself at the deadline (a request in flight then is awaited, up to its 60-s
 * timeout; a command in flight is finished). The server's VmRSS is read from /proc every few seconds.
 *
 * Reported, as JSON lines: per route, the answers by status and p50/p95 latency (request sent to
 * body read); per minute, requests started, failed ones and the server's RSS; the writer's cycles;
 * and a summary: 5xx answers and requests with no answer (must be 0), answers that held an item of a
 * slide removed before the request started (must be 0; the answers that held an appended slide at all
 * show the check had something to catch), and the RSS growth from the start of minute 2 (60 s, once
 * caches and onnxruntime's arenas have filled) to the end, as a ratio. The exit status is 1 when a
 * must-be-0 count is not, or a writer's command failed.
 *
 *   npm run bench:soak [-- --minutes 10]
 */
import type { ChildProcess } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeDemo } from '../test/server-fixtures.js';
import { info, median, percentile, processRssMib, Results, significant, startServe } from './common.js';
import { ROUTES, runLoad, type LoadTargets, type RemovalLedger } from './soak-load.js';
import { runWriter } from './soak-writer.js';

const { values: opts } = parseArgs({ options: { minutes: { type: 'string', default: '10' } } });
const MINUTES = Number(opts.minutes);
if (!(MINUTES > 0)) throw new Error(`--minutes must be a positive number, got '${opts.minutes}'`);
const CONCURRENCY = 8;
const THREADS = 2;
const RSS_EVERY_MS = 5_000;
/** The RSS growth is measured from here: the first minute fills caches and arenas. */
const GROWTH_FROM_MS = 60_000;
/** Deep Zoom levels fetched, counted down from full resolution. */
const TILE_LEVELS = 4;

interface DeepZoom {
  width: number;
  height: number;
  tileSize: number;
  minLevel: number;
  maxLevel: number;
  tiles: string;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** What the clients request: the demo's test patches to upload, and from the server itself its slides' tiles, a region of each, the item count. */
async function loadTargets(url: string, collection: string): Promise<LoadTargets> {
  const testDir = path.join(collection, 'test');
  const uploads: Blob[] = [];
  for (const slide of await readdir(testDir)) {
    const first = (await readdir(path.join(testDir, slide))).sort()[0];
    uploads.push(await openAsBlob(path.join(testDir, slide, first)));
  }
  const { slides } = await getJson<{ slides: string[] }>(`${url}/api/slides`);
  const tiles: string[] = [];
  const regions: LoadTargets['regions'] = [];
  for (const slide of slides) {
    const dz = await getJson<DeepZoom>(`${url}/api/slides/${slide}`);
    for (let level = Math.max(dz.minLevel, dz.maxLevel - TILE_LEVELS + 1); level <= dz.maxLevel; level++) {
      const scale = 2 ** (dz.maxLevel - level);
      const [cols, rows] = [Math.ceil(dz.width / scale / dz.tileSize), Math.ceil(dz.height / scale / dz.tileSize)];
      for (let col = 0; col < cols; col++)
        for (let row = 0; row < rows; row++) tiles.push(`${dz.tiles}${level}/${col}_${row}.jpeg`);
    }
    // The middle full-resolution tile: a region well inside the slide.
    const middle = `${dz.tiles}${dz.maxLevel}/${Math.floor(dz.width / dz.tileSize / 2)}_${Math.floor(dz.height / dz.tileSize / 2)}.jpeg`;
    const response = await fetch(url + middle);
    if (!response.ok) throw new Error(`GET ${middle}: ${response.status}`);
    regions.push({ slide, image: await response.blob() });
  }
  const { rows } = await getJson<{ rows: number }>(`${url}/api/index`);
  return { url, uploads, regions, tiles, baseRows: rows };
}

/** Samples the server's VmRSS every RSS_EVERY_MS until stopped; times are ms since `start`. */
function sampleRss(pid: number, start: number): { samples: { ms: number; mib: number }[]; stop: () => void } {
  const samples: { ms: number; mib: number }[] = [];
  const take = () => samples.push({ ms: performance.now() - start, mib: processRssMib(pid).rss });
  take();
  const timer = setInterval(take, RSS_EVERY_MS);
  return { samples, stop: () => (clearInterval(timer), take()) };
}

async function main(): Promise<void> {
  const results = new Results('soak');
  const root = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-soak-'));
  let server: ChildProcess | undefined;
  try {
    info('making a demo index (histoseek demo --quick)');
    const demo = makeDemo(path.join(root, 'demo'));
    const collection = path.join(demo.dir, 'collection');
    const slideDir = path.join(collection, 'slides');
    const slides = (await readdir(slideDir)).filter((f) => f.endsWith('.tiff')).map((f) => path.join(slideDir, f));
    const started = await startServe(demo.db, THREADS);
    server = started.child;
    const targets = await loadTargets(started.url.replace(/\/$/, ''), collection);
    info(
      `${MINUTES} min of load at concurrency ${CONCURRENCY} on ${started.url}: ${targets.baseRows} items, ${targets.tiles.length} tiles, ${slides.length} slides; a writer appends and removes slides`,
    );

    const ledger: RemovalLedger = { appended: new Set(), removedAt: new Map() };
    const start = performance.now();
    const deadline = start + MINUTES * 60_000;
    const rss = sampleRss(server.pid!, start);
    const [load, writer] = await Promise.all([
      runLoad(targets, ledger, { concurrency: CONCURRENCY, start, deadline, seed: 1 }),
      runWriter({ db: demo.db, slides, workDir: path.join(root, 'appended'), deadline, ledger }),
    ]);
    rss.stop();

    let requests = 0;
    let serverErrors = 0;
    let unanswered = 0;
    for (const route of ROUTES) {
      const r = load.routes.get(route)!;
      const statuses = Object.fromEntries([...r.statuses].sort());
      for (const [status, n] of r.statuses) {
        requests += n;
        if (status === 'error') unanswered += n;
        else if (Number(status) >= 500) serverErrors += n;
      }
      const ms = [...r.ms].sort((a, b) => a - b);
      results.emit({
        case: 'route',
        route,
        requests: [...r.statuses.values()].reduce((a, b) => a + b, 0),
        statuses,
        p50_ms: ms.length ? significant(percentile(ms, 50)) : null,
        p95_ms: ms.length ? significant(percentile(ms, 95)) : null,
      });
    }
    load.perMinute.forEach((m, i) => {
      const inMinute = rss.samples.filter((s) => s.ms >= i * 60_000 && s.ms < (i + 1) * 60_000).map((s) => s.mib);
      results.emit({
        case: 'minute',
        minute: i + 1,
        requests: m.requests,
        failed: m.failed,
        server_rss_mib: inMinute.length ? significant(inMinute.at(-1)!) : null,
        server_rss_max_mib: inMinute.length ? significant(Math.max(...inMinute)) : null,
      });
    });
    results.emit({
      case: 'writer',
      cycles: writer.cycles,
      slides_appended: writer.appendedSlides,
      items_appended: writer.appendedItems,
      slides_removed: writer.removedSlides,
      items_removed: writer.removedItems,
      append_s_median: writer.appendMs.length ? significant(median(writer.appendMs) / 1000) : null,
      remove_s_median: writer.removeMs.length ? significant(median(writer.removeMs) / 1000) : null,
      failures: writer.failures,
    });
    const from = rss.samples.find((s) => s.ms >= GROWTH_FROM_MS);
    const end = rss.samples.at(-1)!;
    const ok = serverErrors === 0 && unanswered === 0 && load.answersWithRemoved === 0 && writer.failures.length === 0;
    results.emit({
      case: 'summary',
      minutes: MINUTES,
      concurrency: CONCURRENCY,
      requests,
      server_errors_5xx: serverErrors,
      unanswered,
      answers_with_removed_items: load.answersWithRemoved,
      removed_examples: load.removedExamples,
      answers_with_appended_items: load.answersWithAppended,
      server_rss_start_mib: significant(rss.samples[0].mib),
      server_rss_minute2_mib: from ? significant(from.mib) : null,
      server_rss_end_mib: significant(end.mib),
      // null for a run shorter than a minute: there is no minute 2 to grow from.
      server_rss_growth_minute2_to_end: from ? significant(end.mib / from.mib) : null,
      server_peak_rss_mib: significant(processRssMib(server.pid!).peak),
      cpus: os.cpus().length,
      ok,
    });
    if (!ok) process.exitCode = 1;
    info(`results: ${await results.save()}`);
  } finally {
    server?.kill('SIGTERM');
    await rm(root, { recursive: true, force: true });
  }
}

await main();
