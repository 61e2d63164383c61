/**
 * Slide-level search in an archive (issue #12 item 5): 10 000 slides of 100 mosaic patches each,
 * 10⁶ patch vectors drawn as in bench:scale (scale-space.ts: its rows are slides of 100 patches),
 * and whole-slide search — each query slide's mosaic against every other slide, median-of-minimum
 * distance over each patch's 100 nearest items, as `search --slide S --whole` ranks them
 * (rankSlides in src/store/slide-search.ts) — timed for QUERIES slides of the index, their own
 * stored vectors standing for their mosaic's descriptors. Embedding a real mosaic is not part of
 * this time: `search --whole` embeds its ~12–100 patches first (bench:embed gives the rate).
 *
 *   npm run bench:slides-archive [-- --n 1000000 --work DIR --vectors f16 --queries 50]
 *
 * Builds (or reuses, resuming a killed build) the index with bench/scale-build.ts in the work folder
 * bench:scale uses, then searches it in this process with the searcher the CLI would pick
 * (auto: two stages at this size). Prints JSON lines: the build, and p50/p95 ms per whole-slide query.
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { rankSlides } from '../src/store/slide-search.js';
import { FolderStore } from '../src/store/folder/folder-store.js';
import { BENCH_DIR, info, peakRssMib, Results, runNodeWorker, significant } from './common.js';
import { latencySummary } from './scale-metrics.js';

const PATCHES_PER_SLIDE = 100;
const THREADS = 2;

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'histoseek-scale') },
    vectors: { type: 'string', default: 'f16' },
    queries: { type: 'string', default: '50' },
  },
});

/** The d = 256 space bench:scale wrote in the work folder (run bench:scale once to make it). */
function spaceFile(work: string): string {
  const spec = existsSync(work) ? readdirSync(work).find((name) => /^d256-[0-9a-f]+\.json$/.test(name)) : undefined;
  if (!spec)
    throw new Error(
      `${work}: no d = 256 space; run 'npm run bench:scale -- --cases d256-n1e5' first (it writes the space and its bases)`,
    );
  return path.join(work, spec);
}

async function main(): Promise<void> {
  const n = Number(opts.n);
  const results = new Results('slides-archive');
  const dir = path.join(opts.work!, `histoseek-d256-n${n}-${opts.vectors}`);
  info(`building (or resuming) ${dir}…`);
  const built = await runNodeWorker(path.join(BENCH_DIR, 'scale-build.ts'), [
    '--space',
    spaceFile(opts.work!),
    '--dir',
    dir,
    '--n',
    String(n),
    '--vectors',
    opts.vectors!,
  ]);
  const slides = n / PATCHES_PER_SLIDE;
  results.emit({ case: 'build', n, slides, vectors: opts.vectors, build_s: built.build_s });

  const store = FolderStore.open(dir);
  const searcher = await store.openSearcher({ threads: THREADS });
  try {
    const count = Number(opts.queries);
    const ms: number[] = [];
    for (let q = 0; q < count; q++) {
      // Evenly spread query slides; slide i holds rows [100·i, 100·i + 100).
      const slideIndex = Math.floor(((q + 0.5) * slides) / count);
      const slide = `slide-${String(slideIndex).padStart(6, '0')}`;
      const rows = await store.slideRows(slide);
      const mosaic = await store.vectors(rows);
      const started = performance.now();
      const ranked = await rankSlides({ store, searcher }, mosaic, rows.length, slide);
      ms.push(performance.now() - started);
      if (ranked.length === 0 || ranked.some((m) => m.slide === slide))
        throw new Error(`${slide}: no slides ranked, or its own slide came back although it is excluded`);
    }
    const { p50, p95 } = latencySummary(ms);
    results.emit({
      case: 'whole-slide',
      n,
      slides,
      patches_per_query: PATCHES_PER_SLIDE,
      per_patch: 100,
      search: searcher.mode,
      vectors: opts.vectors,
      queries: count,
      p50_ms: significant(p50),
      p95_ms: significant(p95),
      max_ms: significant(Math.max(...ms)),
      rss_mib: significant(peakRssMib(), 4),
      threads: THREADS,
      cpu: os.cpus()[0]?.model ?? 'unknown',
    });
  } finally {
    await searcher.release();
    await store.close();
  }
  info(`results: ${await results.save()}`);
}

await main();
