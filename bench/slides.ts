/**
 * Slide tiling benchmark: histoseek's tissue-masked tiling (src/wsi/tiler.ts) against the same tile
 * list read with openslide-python (bench/openslide_tiles.py: read_region at the plan's level, PIL
 * resize to the patch size when needed). Reports tiles/s (median round after one warm-up round; the
 * two sides take REPEATS turns each and the medians of their turns are compared), their ratio, CPU
 * time per tile, and the peak RSS of each side; each turn runs in its own process, so each peak RSS
 * is its own. The mask is computed once here (its time is reported as mask_s) and handed to both.
 *
 *   npm run bench:slides [-- --rounds N]
 *
 * Cases: CMU-1-Small-Region.svs (when /work/shared/data/slides has it) at 0.5 µm/px, where level 0
 * is read as is, and at 1 µm/px, where every tile is resized; and a generated 8192² synthetic slide
 * at 0.5 µm/px, always. Internally the script also runs as its own worker (--worker PLAN): our tiling
 * of one case, answering in JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { renderSlide, writePyramidalTiff } from '../src/data/synthetic/index.js';
import { openslideVersion } from '../src/wsi/openslide.js';
import { openSlide } from '../src/wsi/slide.js';
import { planTiles, tiles } from '../src/wsi/tiler.js';
import { tissueMask, type TissueMask } from '../src/wsi/tissue-mask.js';
import {
  BENCH_DIR,
  ChildError,
  info,
  median,
  numberField,
  Results,
  runNodeWorker,
  runPython,
  significant,
  SYSTEM_PYTHON,
  timeRounds,
  type JsonRecord,
} from './common.js';

const CMU1 = path.resolve(BENCH_DIR, '../../shared/data/slides/CMU-1-Small-Region.svs');
const PATCH = 224;
const SYNTHETIC_SIDE = 8192;
/** Turns each side takes per case; the reported figures are medians over them. */
const REPEATS = 3;
const INSTALL = 'apt-get install python3-openslide';
const SELF = fileURLToPath(import.meta.url);
const PYTHON_SCRIPT = path.join(BENCH_DIR, 'openslide_tiles.py');

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string' },
    worker: { type: 'string' },
  },
});

/**
 * This process's peak RSS in MiB, from /proc/self/status (VmHWM). process.resourceUsage().maxRSS would
 * not do in a worker: Linux carries it over from the parent across fork and exec, so a child spawned by
 * a process that has held a slide's mask and plan reports at least that process's peak.
 */
function ownPeakRssMib(): number {
  const kib = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (kib === undefined) throw new Error('no VmHWM in /proc/self/status');
  return Number(kib) / 1024;
}

interface Case {
  name: string;
  slide: string;
  targetMpp: number;
  /** Timed rounds: enough for a second or more of tiling per side on small tile lists. */
  rounds: number;
}

/** What both sides read: written by main, read by our worker and by the Python script. */
interface PlanFile {
  slide: string;
  target_mpp: number;
  patch_size: number;
  level: number;
  read_width: number;
  read_height: number;
  positions: Array<[number, number]>;
  rounds: number;
  /** The tissue mask, raw 0/1 bytes, and its geometry. */
  mask_file: string;
  mask_width: number;
  mask_height: number;
  mask_downsample: number;
}

/**
 * A synthetic H&E slide of side × side at 0.5 µm/px: one 2048² rendering repeated (libvips streams
 * the repetition into the pyramid, so nothing of the slide's size is held in memory).
 */
async function writeSyntheticSlide(file: string, side: number): Promise<void> {
  const tile = renderSlide({ cls: 'tumour', seed: 11, width: 2048, height: 2048 });
  await writePyramidalTiff(
    sharp(tile.rgb, { raw: { width: tile.width, height: tile.height, channels: 3 } }).extend({
      right: side - tile.width,
      bottom: side - tile.height,
      extendWith: 'repeat',
    }),
    file,
  );
}

async function writePlan(
  dir: string,
  c: Case,
): Promise<{ planFile: string; plan: PlanFile; maskSeconds: number; tissueFraction: number }> {
  const slide = await openSlide(c.slide);
  try {
    const start = performance.now();
    const mask = await tissueMask(slide);
    const maskSeconds = (performance.now() - start) / 1000;
    const tilePlan = await planTiles(slide, { patchSize: PATCH, targetMpp: c.targetMpp, mask });
    const maskFile = path.join(dir, `${c.name}.mask`);
    await writeFile(maskFile, mask.mask);
    const plan: PlanFile = {
      slide: c.slide,
      target_mpp: c.targetMpp,
      patch_size: PATCH,
      level: tilePlan.level,
      read_width: tilePlan.readWidth,
      read_height: tilePlan.readHeight,
      positions: [...tilePlan.positions()].map((p): [number, number] => [p.x, p.y]),
      rounds: c.rounds,
      mask_file: maskFile,
      mask_width: mask.width,
      mask_height: mask.height,
      mask_downsample: mask.downsample,
    };
    const planFile = path.join(dir, `${c.name}.json`);
    await writeFile(planFile, JSON.stringify(plan));
    return { planFile, plan, maskSeconds, tissueFraction: mask.tissueFraction };
  } finally {
    slide.close();
  }
}

/** Our side of one case, in this process: the tiling `tiles()` does, with the given mask. */
async function worker(planFile: string): Promise<JsonRecord> {
  const plan = JSON.parse(await readFile(planFile, 'utf8')) as PlanFile;
  const maskBytes = new Uint8Array(await readFile(plan.mask_file));
  const mask: TissueMask = {
    width: plan.mask_width,
    height: plan.mask_height,
    downsample: plan.mask_downsample,
    mask: maskBytes,
    tissueFraction: maskBytes.reduce((n, v) => n + v, 0) / maskBytes.length,
  };
  const slide = await openSlide(plan.slide);
  let count = 0;
  const tiling = async () => {
    count = 0;
    for await (const tile of tiles(slide, { patchSize: plan.patch_size, targetMpp: plan.target_mpp, mask })) {
      if (tile.pixels.length !== plan.patch_size * plan.patch_size * 3)
        throw new Error(`tile at (${tile.x}, ${tile.y}) has ${tile.pixels.length} bytes`);
      count++;
    }
  };
  await tiling(); // warm-up
  const cpuStart = process.cpuUsage();
  const seconds = await timeRounds(tiling, plan.rounds, 0);
  const cpu = process.cpuUsage(cpuStart);
  slide.close();
  return {
    tiles: count,
    tiles_per_s: count / median(seconds),
    // Every thread's CPU time (reads run on libuv's pool): the work per tile, whatever the parallelism.
    cpu_ms_per_tile: (cpu.user + cpu.system) / 1000 / (count * plan.rounds),
    peak_rss_mib: ownPeakRssMib(),
    openslide: openslideVersion(),
  };
}

async function yardstick(planFile: string, rounds: number): Promise<JsonRecord | { error: string }> {
  try {
    return await runPython(PYTHON_SCRIPT, ['--plan', planFile, '--rounds', String(rounds)]);
  } catch (e) {
    const missingPython = e instanceof ChildError && e.code === 'ENOENT';
    return { error: missingPython ? `${SYSTEM_PYTHON} not found; install: ${INSTALL}` : (e as Error).message };
  }
}

async function main(): Promise<void> {
  const roundsOverride = options.rounds === undefined ? undefined : Number(options.rounds);
  if (roundsOverride !== undefined && !(Number.isInteger(roundsOverride) && roundsOverride >= 1)) {
    throw new Error(`--rounds must be a positive integer, got '${options.rounds}'`);
  }
  const results = new Results('slides');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-'));
  try {
    const cases: Case[] = [];
    if (existsSync(CMU1)) {
      cases.push({ name: 'tiling_cmu1', slide: CMU1, targetMpp: 0.5, rounds: 30 });
      cases.push({ name: 'tiling_cmu1_1mpp', slide: CMU1, targetMpp: 1, rounds: 60 });
    } else {
      info(`${CMU1} is absent: skipping the CMU-1 cases`);
    }
    const synthetic = path.join(dir, `synthetic-${SYNTHETIC_SIDE}.tiff`);
    info(`writing a ${SYNTHETIC_SIDE}² synthetic slide…`);
    await writeSyntheticSlide(synthetic, SYNTHETIC_SIDE);
    cases.push({ name: `tiling_synthetic_${SYNTHETIC_SIDE}`, slide: synthetic, targetMpp: 0.5, rounds: 3 });

    for (const c of cases) {
      if (roundsOverride) c.rounds = roundsOverride;
      info(`${c.name}: mask and plan…`);
      const { planFile, plan, maskSeconds, tissueFraction } = await writePlan(dir, c);
      // The two sides take turns, REPEATS times each, and each reports its median: on a shared
      // machine, a burst of load then hits both alike instead of one side's whole measurement.
      const ours: JsonRecord[] = [];
      const theirs: JsonRecord[] = [];
      let yardstickError: string | undefined;
      for (let r = 0; r < REPEATS; r++) {
        info(`${c.name} (${r + 1}/${REPEATS}): histoseek, ${plan.positions.length} tiles × ${c.rounds} rounds…`);
        const mine = await runNodeWorker(SELF, ['--worker', planFile]);
        if (numberField(mine, 'tiles') !== plan.positions.length)
          throw new Error(`${c.name}: the worker cut ${mine.tiles} tiles, the plan has ${plan.positions.length}`);
        ours.push(mine);
        if (yardstickError !== undefined) continue;
        info(`${c.name} (${r + 1}/${REPEATS}): openslide-python…`);
        const answer = await yardstick(planFile, c.rounds);
        if ('error' in answer) yardstickError = String(answer.error);
        else theirs.push(answer);
      }
      const mid = (answers: JsonRecord[], key: string) => median(answers.map((a) => numberField(a, key)));
      const peak = (answers: JsonRecord[]) => Math.max(...answers.map((a) => numberField(a, 'peak_rss_mib')));
      const measured = yardstickError === undefined;
      results.emit({
        case: c.name,
        histoseek_tiles_per_s: significant(mid(ours, 'tiles_per_s')),
        openslide_python_tiles_per_s: measured ? significant(mid(theirs, 'tiles_per_s')) : null,
        ratio: measured ? significant(mid(ours, 'tiles_per_s') / mid(theirs, 'tiles_per_s'), 3) : null,
        histoseek_peak_rss_mib: significant(peak(ours), 4),
        openslide_python_peak_rss_mib: measured ? significant(peak(theirs), 4) : null,
        histoseek_cpu_ms_per_tile: significant(mid(ours, 'cpu_ms_per_tile'), 3),
        openslide_python_cpu_ms_per_tile: measured ? significant(mid(theirs, 'cpu_ms_per_tile'), 3) : null,
        tiles: plan.positions.length,
        target_mpp: c.targetMpp,
        patch_size: PATCH,
        level: plan.level,
        read_size: plan.read_width,
        mask_s: significant(maskSeconds, 3),
        tissue_fraction: significant(tissueFraction, 3),
        rounds: c.rounds,
        repeats: REPEATS,
        openslide: String(ours[0]!.openslide),
        ...(measured ? {} : { error: yardstickError }),
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  info(`wrote ${await results.save()}`);
}

if (options.worker !== undefined) {
  process.stdout.write(`${JSON.stringify(await worker(options.worker))}\n`);
} else {
  await main();
}
