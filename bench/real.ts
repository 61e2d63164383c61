/**
 * bench:real (issue #26, item 4): retrieval on real H&E tiles (../shared/data, NOTICE.md there),
 * for a colour histogram, the two shipped models, ImageNet MobileNetV2's pooled features as they
 * are, and an LGFFEM neck and head trained over MobileNetV2 (when --lgffem-weights names one).
 *
 *   npm run bench:real [-- --lgffem-weights FILE] [--threads N]
 *
 * Protocol: Kather 2016's tiles are held out one source specimen at a time (its tiles are the
 * queries; every other specimen's tiles are the index), so tiles of one specimen, which share
 * their staining, never find each other. The NCT tiles name no specimen: each tile in turn
 * queries all the others of both cohorts (rows labelled leave-one-tile-out). Every model embeds
 * at its own input size (the library resizes; Kather's 150 px tiles are upscaled). The metrics are
 * eval's (src/eval/metrics.ts): η_p, η_w, mMV@5, mAP@10, Recall@5, as mean and spread over the
 * folds, and over all queries at once ("pooled"). The sets are tiny: read the spread, and tune
 * nothing to them. Nothing trained on ../shared is committed (its NOTICE).
 *
 * Output: a header line (CPU, date, commit, command), then one JSON line per method and tile set
 * (or one saying a method was skipped, and why) on stdout and in bench/results/real-<time>Z.json,
 * and the figure bench/results/real-<time>Z.png. Without ../shared it prints one line saying it
 * skipped, and exits 0.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, type HistoseekModel } from '../src/api/library.js';
import { normaliseRows } from '../src/store/vectors/normalise.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { TISSUE_MODEL_PATH } from '../src/model/checkpoint.js';
import { BENCH_DIR, info, Results, significant } from './common.js';
import { HISTOGRAM_BINS, HISTOGRAM_DESCRIPTION, histogramRows } from './real-histogram.js';
import { MOBILENET, missingShared, readKather2016, readNctCrcHe, type TileSet } from './real-data.js';
import { renderRealChart, type ChartRow } from './real-plot.js';
import {
  groupFolds,
  K,
  REAL_METRICS,
  scoreFolds,
  summarise,
  type RealMetric,
  type Spread,
  type Summary,
} from './real-protocol.js';

const { values: opts } = parseArgs({
  options: {
    'lgffem-weights': { type: 'string' },
    threads: { type: 'string', default: '2' },
  },
});
const THREADS = Number(opts.threads);
if (!Number.isInteger(THREADS) || THREADS < 1) throw new Error(`--threads: a positive integer, got '${opts.threads}'`);

/** A descriptor: L2-normalised rows of `dim` values for image files. */
interface Descriptor {
  description: string;
  dim: number;
  /** The side images are resized to; absent for the histogram, which reads every pixel. */
  inputSize?: number;
  embed(files: string[]): Promise<Float32Array>;
  close(): Promise<void>;
}

interface Method {
  name: string;
  /** The descriptor, or why this run cannot measure the method. */
  open(): Promise<Descriptor | { skipped: string }>;
}

const histogram: Descriptor = {
  description: HISTOGRAM_DESCRIPTION,
  dim: HISTOGRAM_BINS ** 3,
  embed: histogramRows,
  close: async () => undefined,
};

function fromLibrary(model: HistoseekModel, description: string): Descriptor {
  return {
    description,
    dim: model.dim,
    inputSize: model.inputSize,
    embed: async (files) => normaliseRows(await model.embed(files), model.dim),
    close: () => model.close(),
  };
}

/**
 * MobileNetV2 through the library's `encoder` option (issue #26 item 1: `loadModel(weights, {
 * encoder: FILE.onnx })`). A library without the option would silently load the default model
 * instead: the default model's hash tells, and then neither MobileNetV2 row is measured.
 */
let defaultHash: string | undefined;
let encoderIgnored = false;
const ENCODER_IGNORED =
  "loadModel ignored the 'encoder' option and loaded the default model: the library does not take ONNX encoders yet (issue #26 item 1)";

async function mobilenetFeatures(): Promise<Descriptor | { skipped: string }> {
  const model = await loadModel(undefined, { threads: THREADS, encoder: MOBILENET });
  if (model.identity.hash === defaultHash) {
    encoderIgnored = true;
    await model.close();
    return { skipped: ENCODER_IGNORED };
  }
  return fromLibrary(model, `ImageNet MobileNetV2 (int8) as it is: its global-average-pooled features (${MOBILENET})`);
}

/**
 * Issue #26 item 3: an LGFFEM neck and head trained over MobileNetV2's pyramid, trained elsewhere
 * and never committed (../shared/models/NOTICE.md), measured on the same folds as the rest.
 */
async function lgffemOverMobilenet(weights: string | undefined): Promise<Descriptor | { skipped: string }> {
  if (!weights) return { skipped: 'no --lgffem-weights FILE given (an LGFFEM checkpoint trained over MobileNetV2)' };
  if (encoderIgnored) return { skipped: ENCODER_IGNORED };
  return fromLibrary(
    await loadModel(weights, { threads: THREADS, encoder: MOBILENET }),
    `LGFFEM trained over MobileNetV2's pyramid: ${path.resolve(weights)}`,
  );
}

const METHODS: Method[] = [
  { name: 'colour-histogram', open: async () => histogram },
  {
    name: 'default-model',
    async open() {
      const model = await loadModel(undefined, { threads: THREADS });
      defaultHash = model.identity.hash;
      return fromLibrary(model, `the shipped default model: ${model.identity.id}`);
    },
  },
  {
    name: 'tissue-model',
    open: async () =>
      fromLibrary(
        await loadModel(TISSUE_MODEL_PATH, { threads: THREADS }),
        `the shipped tissue model: ${TISSUE_MODEL_PATH}`,
      ),
  },
  { name: 'mobilenetv2-gap', open: mobilenetFeatures },
  { name: 'lgffem-mobilenetv2', open: () => lgffemOverMobilenet(opts['lgffem-weights']) },
];

function cpuModel(): string {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: path.join(BENCH_DIR, '..'), encoding: 'utf8', timeout: 10_000 }).trim();
}

const round = (spread: Spread): Spread => ({
  mean: significant(spread.mean),
  sd: significant(spread.sd),
  min: significant(spread.min),
  max: significant(spread.max),
});
const roundAll = <T>(values: Record<RealMetric, T>, f: (v: T) => T) =>
  Object.fromEntries(REAL_METRICS.map((m) => [m, f(values[m])])) as Record<RealMetric, T>;

const PROTOCOL_NOTES: Record<TileSet['protocol'], string> = {
  'leave-one-specimen-out':
    "one fold per source specimen (CRC-Prim-HE-NN, from the manifest's source_image): its tiles query every other specimen's tiles",
  'leave-one-tile-out':
    "no specimen is named: each tile queries all the others of both cohorts; with one query per fold, a fold's η_w is its η_p, so pooled.eta_w is the class-averaged figure",
};

async function main(): Promise<void> {
  const missing = missingShared();
  if (missing) {
    process.stdout.write(`${JSON.stringify({ record: 'skipped', bench: 'real', skipped: true, reason: missing })}\n`);
    return;
  }
  const commit = git('rev-parse', 'HEAD');
  // Tracked files changed since that commit: the figures are not the commit's alone.
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const cpu = cpuModel();
  const date = new Date().toISOString();
  const args = process.argv.slice(2);
  const results = new Results('real');
  results.emit({
    record: 'header',
    bench: 'real',
    cpu,
    date,
    commit,
    dirty,
    command: `npm run bench:real${args.length ? ` -- ${args.join(' ')}` : ''}`,
    node: process.version,
    threads: THREADS,
    k: K,
    spread: "over_folds: mean, sample sd (n − 1), min, max of each fold's metric; pooled: every query once",
  });

  const sets = [await readKather2016(), await readNctCrcHe()];
  const chart: ChartRow[] = [];
  for (const method of METHODS) {
    info(`${method.name}…`);
    const opened = await method.open();
    if ('skipped' in opened) {
      info(`${method.name} skipped: ${opened.skipped}`);
      results.emit({ record: 'skipped', method: method.name, skipped: true, reason: opened.skipped });
      continue;
    }
    try {
      for (const set of sets) {
        const started = performance.now();
        const vectors = await opened.embed(set.tiles.map((t) => t.path));
        const embedSeconds = (performance.now() - started) / 1000;
        const folds = groupFolds(set.tiles.map((t) => t.group));
        const summary: Summary = summarise(
          await scoreFolds(
            vectors,
            opened.dim,
            set.tiles.map((t) => t.label),
            folds,
            THREADS,
          ),
        );
        results.emit({
          record: 'result',
          dataset: set.name,
          protocol: set.protocol,
          protocol_note: PROTOCOL_NOTES[set.protocol],
          method: method.name,
          descriptor: opened.description,
          dim: opened.dim,
          input_size: opened.inputSize ?? null,
          tiles: set.tiles.length,
          classes: new Set(set.tiles.map((t) => t.label)).size,
          folds: summary.folds,
          queries: summary.queries,
          unanswerable: summary.unanswerable,
          over_folds: roundAll(summary.over_folds, round),
          pooled: roundAll(summary.pooled, (v) => significant(v)),
          embed_s: significant(embedSeconds, 3),
        });
        chart.push({
          panel: `${set.name}: ${set.protocol} (${summary.folds} folds, ${summary.queries} queries)`,
          method: method.name,
          over_folds: summary.over_folds,
          pooled: summary.pooled,
        });
      }
    } finally {
      await opened.close();
    }
  }

  info(`wrote ${await results.save()}`);
  const png = results.file('png');
  await writeFileAtomic(
    png,
    await renderRealChart(chart, {
      title: 'bench:real: retrieval on real H&E tiles (../shared/data)',
      subtitle: `bars: mean over folds; whiskers: ± 1 sd over folds, clipped to [0, 1]; diamonds: every query once. ${cpu}, ${commit.slice(0, 7)}${dirty ? '+' : ''}, ${date.slice(0, 10)}`,
    }),
  );
  info(`wrote ${png}`);
}

await main();
