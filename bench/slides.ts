/**
 * Slide tiling benchmark: histoseek's tissue-masked tiling (src/wsi/tiler.ts) against the same tile
 * list read with openslide-python (bench/openslide_tiles.py: read_region at the plan's level, PIL
 * resize to the patch size when needed). Reports tiles/s (median round after one warm-up round; the
 * two sides take REPEATS turns each and the medians of their turns are compared), their ratio, CPU
 * time per tile, and the peak RSS of each side; each turn runs in its own process, so each peak RSS
 * is its own. The mask is computed once here (its time is reported as mask_s) and handed to both.
 *
 *   npm run bench:slides [-- --rounds N] [-- --cases REGEX]
 *
 * Cases: CMU-1-Small-Region.svs (when /work/shared/data/slides has it) at 0.5 µm/px, where level 0
 * is read as is, and at 1 µm/px, where every tile is resized; and a generated 8192² synthetic slide
 * at 0.5 µm/px, always.
 *
 * DICOM cases (dicom_*, where Orthanc and OrthancWSIDicomizer are installed): CMU-1 and the 8192²
 * synthetic slide converted to DICOM WSI (JPEG tiles copied), and a 4096² one re-encoded as JPEG 2000,
 * tiled by histoseek from the Part 10 files and over DICOMweb from a real Orthanc on loopback, against
 * histoseek's OpenSlide reader on the source in the same run: one plan (made on the source) for the
 * three sides, which take turns. Each timed round opens the slide afresh, so no tile cache carries
 * over between rounds (a slide is indexed once), and each turn is a fresh process.
 *
 * Internally the script also runs as its own worker (--worker PLAN [--slide PATH] [--reopen]): our
 * tiling of one case, answering in JSON.
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
import type { Slide } from '../src/wsi/types.js';
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
import { dicomCopies, SKIP_ORTHANC, startPacs, type Pacs } from './slides-dicom.js';

const CMU1 = path.resolve(BENCH_DIR, '../../shared/data/slides/CMU-1-Small-Region.svs');
const PATCH = 224;
const SYNTHETIC_SIDE = 8192;
/** JPEG 2000 decodes ten times slower than JPEG here (OpenJPEG in WASM): its case tiles a smaller synthetic slide. */
const J2K_SIDE = 4096;
/** Turns each side takes per case; the reported figures are medians over them. */
const REPEATS = 3;
const INSTALL = 'apt-get install python3-openslide';
const SELF = fileURLToPath(import.meta.url);
const PYTHON_SCRIPT = path.join(BENCH_DIR, 'openslide_tiles.py');
/** The DICOM goal: tiling from DICOM files at no less than 1/1.2 of OpenSlide's speed on the same slide. */
const DICOM_GOAL_RATIO = 1 / 1.2;

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string' },
    cases: { type: 'string' },
    worker: { type: 'string' },
    slide: { type: 'string' },
    reopen: { type: 'boolean' },
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

/** A DICOM case: `slide` is the source, converted with these dicomizer options. */
interface DicomCase extends Case {
  compression?: 'jpeg2000';
}

/** The CPU's model name, from /proc/cpuinfo: every figure here is for this machine. */
function cpuModel(): string {
  return (
    /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ??
    os.cpus()[0]?.model ??
    'unknown'
  );
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

/** Throws unless `slide` plans the tiling `plan` was made of: same level, read size and positions. */
async function checkPlan(slide: Slide, plan: PlanFile, mask: TissueMask): Promise<void> {
  const mine = await planTiles(slide, { patchSize: plan.patch_size, targetMpp: plan.target_mpp, mask });
  const positions = [...mine.positions()];
  const same =
    mine.level === plan.level &&
    mine.readWidth === plan.read_width &&
    mine.readHeight === plan.read_height &&
    positions.length === plan.positions.length &&
    positions.every((p, i) => p.x === plan.positions[i]![0] && p.y === plan.positions[i]![1]);
  if (!same)
    throw new Error(
      `${slide.path} plans ${positions.length} reads of ${mine.readWidth}×${mine.readHeight} at level ${mine.level}; the plan made on ${plan.slide} has ${plan.positions.length} of ${plan.read_width}×${plan.read_height} at level ${plan.level}`,
    );
}

/**
 * Our side of one case, in this process: the tiling `tiles()` does, with the given mask, of `slidePath`
 * (default: the plan's slide), after checking that it plans the same tiles. With `reopen`, each round
 * opens the slide afresh and closes it (its open is timed with it): no decoded or fetched tile
 * carries over from one round to the next, as when a slide is indexed once.
 */
async function worker(planFile: string, slidePath: string | undefined, reopen: boolean): Promise<JsonRecord> {
  const plan = JSON.parse(await readFile(planFile, 'utf8')) as PlanFile;
  const maskBytes = new Uint8Array(await readFile(plan.mask_file));
  const mask: TissueMask = {
    width: plan.mask_width,
    height: plan.mask_height,
    downsample: plan.mask_downsample,
    mask: maskBytes,
    tissueFraction: maskBytes.reduce((n, v) => n + v, 0) / maskBytes.length,
  };
  const at = slidePath ?? plan.slide;
  let slide = await openSlide(at);
  await checkPlan(slide, plan, mask);
  const facts = { backend: slide.backend, transfer_syntax: slide.properties['dicom.TransferSyntaxUID'] ?? null };
  let count = 0;
  const openMs: number[] = [];
  const tiling = async () => {
    if (reopen) {
      slide.close();
      const start = performance.now();
      slide = await openSlide(at);
      openMs.push(performance.now() - start);
    }
    count = 0;
    for await (const tile of tiles(slide, { patchSize: plan.patch_size, targetMpp: plan.target_mpp, mask })) {
      if (tile.pixels.length !== plan.patch_size * plan.patch_size * 3)
        throw new Error(`tile at (${tile.x}, ${tile.y}) has ${tile.pixels.length} bytes`);
      count++;
    }
  };
  await tiling(); // warm-up
  openMs.length = 0;
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
    ...(reopen ? { open_ms: median(openMs) } : {}),
    ...facts,
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

/** Our worker on one plan; throws unless it cut every planned tile. */
async function ourTurn(c: Case, planFile: string, plan: PlanFile, args: string[] = []): Promise<JsonRecord> {
  const answer = await runNodeWorker(SELF, ['--worker', planFile, ...args]);
  if (numberField(answer, 'tiles') !== plan.positions.length)
    throw new Error(`${c.name}: the worker cut ${answer.tiles} tiles, the plan has ${plan.positions.length}`);
  return answer;
}

const mid = (answers: JsonRecord[], key: string) => median(answers.map((a) => numberField(a, key)));
const peak = (answers: JsonRecord[]) => Math.max(...answers.map((a) => numberField(a, 'peak_rss_mib')));

/** Where every row was measured: this machine's CPU, how many this process may use, and the load then (it may be shared). */
function machine(): JsonRecord {
  return { cpu: cpuModel(), cpus: os.availableParallelism(), load_avg_1m: significant(os.loadavg()[0]!, 3) };
}

/** histoseek against openslide-python on one slide. */
async function openslideCase(c: Case, dir: string, results: Results): Promise<void> {
  info(`${c.name}: mask and plan…`);
  const { planFile, plan, maskSeconds, tissueFraction } = await writePlan(dir, c);
  // The two sides take turns, REPEATS times each, and each reports its median: on a shared
  // machine, a burst of load then hits both alike instead of one side's whole measurement.
  const ours: JsonRecord[] = [];
  const theirs: JsonRecord[] = [];
  let yardstickError: string | undefined;
  for (let r = 0; r < REPEATS; r++) {
    info(`${c.name} (${r + 1}/${REPEATS}): histoseek, ${plan.positions.length} tiles × ${c.rounds} rounds…`);
    ours.push(await ourTurn(c, planFile, plan));
    if (yardstickError !== undefined) continue;
    info(`${c.name} (${r + 1}/${REPEATS}): openslide-python…`);
    const answer = await yardstick(planFile, c.rounds);
    if ('error' in answer) yardstickError = String(answer.error);
    else theirs.push(answer);
  }
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
    ...machine(),
    ...(measured ? {} : { error: yardstickError }),
  });
}

/**
 * One slide three ways, all histoseek's tiling of one plan made on the source: the source through
 * OpenSlide, the DICOM files, and the series over DICOMweb from a PACS of its own (started for the
 * case, stopped after it).
 */
async function dicomCase(c: DicomCase, dir: string, results: Results): Promise<void> {
  info(`${c.name}: converting ${path.basename(c.slide)} to DICOM${c.compression ? ` (${c.compression})` : ''}…`);
  let pacs: Pacs | undefined;
  try {
    pacs = await startPacs();
    const copies = await dicomCopies(c.slide, path.join(dir, c.name), pacs, { compression: c.compression });
    info(`${c.name}: ${copies.files} files, ${copies.transferSyntax}, ${copies.tiling}; mask and plan…`);
    const { planFile, plan } = await writePlan(dir, c);
    const sides = {
      openslide: { at: c.slide, turns: [] as JsonRecord[] },
      dicom_files: { at: copies.folder, turns: [] as JsonRecord[] },
      dicomweb: { at: copies.dicomweb, turns: [] as JsonRecord[] },
    };
    // The PACS's CPU per tile: each DICOMweb turn fetches every frame once per round, warm-up included.
    const orthancCpu: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      for (const [name, side] of Object.entries(sides)) {
        info(`${c.name} (${r + 1}/${REPEATS}): ${name}, ${plan.positions.length} tiles × ${c.rounds} rounds…`);
        const before = pacs.cpuMs();
        side.turns.push(await ourTurn(c, planFile, plan, ['--slide', side.at, '--reopen']));
        if (side === sides.dicomweb)
          orthancCpu.push((pacs.cpuMs() - before) / (plan.positions.length * (c.rounds + 1)));
      }
    }
    const speed = (side: keyof typeof sides) => mid(sides[side].turns, 'tiles_per_s');
    const each = (key: string, digits: number, of: (answers: JsonRecord[]) => number) =>
      Object.fromEntries(
        Object.entries(sides).map(([name, side]) => [`${name}_${key}`, significant(of(side.turns), digits)]),
      );
    const filesRatio = speed('dicom_files') / speed('openslide');
    results.emit({
      case: c.name,
      source: path.basename(c.slide),
      transfer_syntax: copies.transferSyntax,
      tiling: copies.tiling,
      histoseek_openslide_tiles_per_s: significant(speed('openslide')),
      dicom_files_tiles_per_s: significant(speed('dicom_files')),
      dicomweb_tiles_per_s: significant(speed('dicomweb')),
      dicom_files_ratio: significant(filesRatio, 3),
      dicomweb_ratio: significant(speed('dicomweb') / speed('openslide'), 3),
      dicom_files_goal_met: filesRatio >= DICOM_GOAL_RATIO,
      ...each('cpu_ms_per_tile', 3, (turns) => mid(turns, 'cpu_ms_per_tile')),
      orthanc_cpu_ms_per_tile: significant(median(orthancCpu), 3),
      ...each('open_ms', 3, (turns) => mid(turns, 'open_ms')),
      ...each('peak_rss_mib', 4, peak),
      tiles: plan.positions.length,
      target_mpp: c.targetMpp,
      patch_size: PATCH,
      level: plan.level,
      read_size: plan.read_width,
      rounds: c.rounds,
      repeats: REPEATS,
      reading:
        'cold: each round opens the slide afresh (no tile cache carried over), each turn a fresh process; DICOMweb over loopback HTTP from Orthanc on the same CPUs (its CPU is orthanc_cpu_ms_per_tile, not in dicomweb_cpu_ms_per_tile)',
      openslide: String(sides.openslide.turns[0]!.openslide),
      orthanc: pacs.version,
      ...machine(),
    });
  } finally {
    await pacs?.orthanc.stop();
  }
}

async function main(): Promise<void> {
  const roundsOverride = options.rounds === undefined ? undefined : Number(options.rounds);
  if (roundsOverride !== undefined && !(Number.isInteger(roundsOverride) && roundsOverride >= 1)) {
    throw new Error(`--rounds must be a positive integer, got '${options.rounds}'`);
  }
  const only = options.cases === undefined ? undefined : new RegExp(options.cases);
  const results = new Results('slides');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-'));
  try {
    const cases: Case[] = [];
    const dicom: DicomCase[] = [];
    if (existsSync(CMU1)) {
      cases.push({ name: 'tiling_cmu1', slide: CMU1, targetMpp: 0.5, rounds: 30 });
      cases.push({ name: 'tiling_cmu1_1mpp', slide: CMU1, targetMpp: 1, rounds: 60 });
      dicom.push({ name: 'dicom_cmu1', slide: CMU1, targetMpp: 0.5, rounds: 10 });
    } else {
      info(`${CMU1} is absent: skipping the CMU-1 cases`);
    }
    const synthetic = path.join(dir, `synthetic-${SYNTHETIC_SIDE}.tiff`);
    const smaller = path.join(dir, `synthetic-${J2K_SIDE}.tiff`);
    cases.push({ name: `tiling_synthetic_${SYNTHETIC_SIDE}`, slide: synthetic, targetMpp: 0.5, rounds: 3 });
    dicom.push({ name: `dicom_synthetic_${SYNTHETIC_SIDE}`, slide: synthetic, targetMpp: 0.5, rounds: 2 });
    dicom.push({
      name: `dicom_synthetic_${J2K_SIDE}_j2k`,
      slide: smaller,
      targetMpp: 0.5,
      rounds: 1,
      compression: 'jpeg2000',
    });
    const chosen = <T extends Case>(list: T[]) => list.filter((c) => !only || only.test(c.name));
    for (const c of [...cases, ...dicom]) if (roundsOverride) c.rounds = roundsOverride;
    const used = new Set([...chosen(cases), ...chosen(dicom)].map((c) => c.slide));
    for (const [file, side] of [
      [synthetic, SYNTHETIC_SIDE],
      [smaller, J2K_SIDE],
    ] as const) {
      if (!used.has(file)) continue;
      info(`writing a ${side}² synthetic slide…`);
      await writeSyntheticSlide(file, side);
    }
    for (const c of chosen(cases)) await openslideCase(c, dir, results);
    if (SKIP_ORTHANC && chosen(dicom).length > 0) info(`skipping the DICOM cases: ${SKIP_ORTHANC}`);
    else for (const c of chosen(dicom)) await dicomCase(c, dir, results);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  info(`wrote ${await results.save()}`);
}

if (options.worker !== undefined) {
  process.stdout.write(`${JSON.stringify(await worker(options.worker, options.slide, options.reopen ?? false))}\n`);
} else {
  await main();
  // The Orthanc fixture leaves a node:test after-hook behind (the PACS is stopped already): exiting
  // here keeps node:test's summary of no tests off stdout, which holds the rows alone.
  process.exit(0);
}
