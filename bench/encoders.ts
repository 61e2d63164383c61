/**
 * What each encoder histoseek offers costs on this machine (issue #26, docs/models-and-weights.md): the seven
 * foundation ViTs of vit-config.ts at full depth with random weights (weights do not change the
 * speed), the built-in default model and the ONNX MobileNetV2 of ../shared/models, each at fp32
 * and int8, 2 threads, through createEmbedder as the commands run them.
 *
 *   node --import tsx bench/encoders.ts [--models default,mobilenetv2,uni,…] [--rounds 3]
 *                                       [--images 16] [--giant-images 8] [--batch 8]
 *
 * (`npm run bench:encoders`). Each model × precision runs in child processes of its own, one at a
 * time, so that each peak RSS is that model's alone: the first with an empty temporary model
 * cache (HISTOSEEK_CACHE_DIR) — random weights made, session built (int8: calibrated), one batch of
 * warm-up, then --rounds rounds of --images images in batches of --batch, images/s their median —
 * and, when the first left a cached session, a second that loads it from the cache and embeds one
 * batch. ViTs past a billion parameters (H-optimus, Prov-GigaPath) run rounds of --giant-images.
 * An architecture identical to one measured before it (H-optimus-1 to H-optimus-0) gets a row
 * saying so instead of a second measurement. A child that fails (out of memory, past its timeout)
 * gets a row with its error and the run goes on.
 *
 * Rows go to stdout as they come; bench/results/encoders-<time>.json is rewritten after each
 * model, its first line the header (CPU, date, commit, command, load average at start and now).
 *
 * Internally the script runs as its own worker: --worker MODEL --precision P --cache-dir DIR --phase first|cached.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { normalizeInto } from '../src/data/image.js';
import { renderPatch, TISSUE_CLASSES } from '../src/data/synthetic/index.js';
import { createEmbedder, probeEncoder, type ModelEmbedder } from '../src/engine/embedders.js';
import { readOnnxEncoder } from '../src/engine/onnx-encoder.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import type { EmbeddingModel } from '../src/model/embedding-model.js';
import { elementCount, type HostTensor } from '../src/model/host-tensor.js';
import { PRECISIONS, type FeatureModel, type Precision } from '../src/model/types.js';
import { isVitArchName, VIT_ARCHS, vitDescriptorSize, type VitArchName } from '../src/model/vit-config.js';
import { randomVitEncoder, vitParameterSpecs } from '../src/model/vit-weights.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { BENCH_DIR, info, median, peakRssMib, Results, runJsonChild, significant, type JsonRecord } from './common.js';
import { cpuDescription } from './embed-cpu.js';

const THREADS = 2;
const SEED = 0;
const SELF = fileURLToPath(import.meta.url);
const MOBILENET = path.resolve(BENCH_DIR, '..', '..', 'shared', 'models', 'mobilenetv2-12-int8.onnx');
/** The ViTs whose weights are made up here; the two benchmark-only ones (vit-b16, vit-l16) are not offered. */
const FOUNDATION: readonly VitArchName[] = (Object.keys(VIT_ARCHS) as VitArchName[]).filter(
  (name) => !name.startsWith('vit-'),
);
const GIANT_PARAMETERS = 1e9;
/** A ViT-g at fp32 on 2 busy cores: weights, graph and session in minutes, then seconds per image. */
const CHILD_TIMEOUT_MS = 45 * 60_000;

const { values: options } = parseArgs({
  options: {
    models: { type: 'string', default: ['default', 'mobilenetv2', ...FOUNDATION].join(',') },
    rounds: { type: 'string', default: '3' },
    images: { type: 'string', default: '16' },
    'giant-images': { type: 'string', default: '8' },
    batch: { type: 'string', default: '8' },
    worker: { type: 'string' },
    precision: { type: 'string' },
    'cache-dir': { type: 'string' },
    phase: { type: 'string' },
  },
});

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${option} must be a positive integer, got '${text}'`);
  return n;
}

function parameterCount(name: VitArchName): number {
  let count = 0;
  for (const spec of vitParameterSpecs(VIT_ARCHS[name]).values()) count += elementCount(spec.shape);
  return count;
}

// ---------------------------------------------------------------- worker: one model, one precision, one process

/** The model as a command would run it, and how long making it took (random weights, the checkpoint read, the ONNX file read and probed). */
async function workerModel(name: string, precision: Precision): Promise<{ model: EmbeddingModel; seconds: number }> {
  const start = performance.now();
  let model: EmbeddingModel;
  if (name === 'default') model = { ...(await loadCheckpoint()), precision };
  else if (name === 'mobilenetv2') {
    // Its int8 is the file's own: no precision asked of it (histoseek refuses one). The probe, which
    // runs the file once to find its features, is part of making the model, as resolving one does.
    const encoder = await readOnnxEncoder(MOBILENET);
    const { featureDim } = await probeEncoder(encoder, THREADS);
    model = { kind: 'features', encoder, source: MOBILENET, inputSize: encoder.preprocessing.size, dim: featureDim };
  } else if (isVitArchName(name)) {
    const arch = VIT_ARCHS[name];
    const encoder = randomVitEncoder(name, arch, SEED);
    model = {
      kind: 'features',
      encoder,
      source: encoder.name,
      precision,
      inputSize: arch.imageSize,
      dim: vitDescriptorSize(arch),
    } satisfies FeatureModel;
  } else throw new Error(`unknown model '${name}'`);
  return { model, seconds: (performance.now() - start) / 1000 };
}

function inputBatch(size: number, batch: number): HostTensor {
  const image = 3 * size * size;
  const data = new Float32Array(batch * image);
  for (let i = 0; i < batch; i++)
    normalizeInto(renderPatch(TISSUE_CLASSES[i % TISSUE_CLASSES.length], size, 9100 + i), size, data, i * image);
  return { shape: [batch, 3, size, size], data };
}

/** Embeds `input` and checks the descriptors are [batch, dimensions] and finite: a broken graph must not pass for a fast one. */
async function embedChecked(embedder: ModelEmbedder, input: HostTensor): Promise<void> {
  const out = await embedder.embed(input);
  const expected = [input.shape[0], embedder.dimensions];
  if (out.shape.join() !== expected.join() || !out.data.every(Number.isFinite))
    throw new Error(`descriptors [${out.shape.join(', ')}] are not ${expected.length} finite [${expected.join(', ')}]`);
}

function cacheContents(dir: string): { files: number; mib: number } {
  const onnx = path.join(dir, 'onnx');
  const names = existsSync(onnx) ? readdirSync(onnx) : [];
  // A graph with external weights is cached as its .onnx and a .weights file beside it; the .json stamps are not counted.
  const bytes = names
    .filter((n) => !n.endsWith('.json'))
    .reduce((sum, n) => sum + statSync(path.join(onnx, n)).size, 0);
  return { files: names.filter((n) => n.endsWith('.onnx')).length, mib: significant(bytes / 2 ** 20) };
}

async function worker(name: string): Promise<JsonRecord> {
  const precision = PRECISIONS.find((p) => p === options.precision);
  if (!precision) throw new Error(`--precision takes ${PRECISIONS.join(', ')}`);
  const cacheDir = options['cache-dir'];
  if (!cacheDir) throw new Error('--cache-dir is required');
  process.env.HISTOSEEK_CACHE_DIR = cacheDir;
  const batch = positiveInteger(options.batch, 'batch');
  const { model, seconds: modelSeconds } = await workerModel(name, precision);
  let start = performance.now();
  const embedder = await createEmbedder(model, { threads: THREADS });
  const sessionSeconds = (performance.now() - start) / 1000;
  const input = inputBatch(embedder.inputSize, batch);
  start = performance.now();
  await embedChecked(embedder, input); // warm-up: onnxruntime's first run allocates its arenas
  const warmupSeconds = (performance.now() - start) / 1000;
  const record: JsonRecord = {
    model_s: significant(modelSeconds),
    session_s: significant(sessionSeconds),
    warmup_batch_s: significant(warmupSeconds),
    input_size: embedder.inputSize,
    descriptor: embedder.dimensions,
  };
  if (options.phase === 'first') {
    const images = positiveInteger(options.images, 'images');
    const rounds = positiveInteger(options.rounds, 'rounds');
    const rates: number[] = [];
    for (let round = 0; round < rounds; round++) {
      start = performance.now();
      for (let done = 0; done < images; done += batch) await embedChecked(embedder, input);
      const seconds = (performance.now() - start) / 1000;
      rates.push((Math.ceil(images / batch) * batch) / seconds);
      info(
        `${name} ${name === 'mobilenetv2' ? 'file (int8)' : precision}: round ${round + 1}/${rounds}, ${rates.at(-1)!.toFixed(3)} images/s`,
      );
    }
    Object.assign(record, {
      images_per_s: significant(median(rates)),
      round_images_per_s: rates.map((r) => significant(r)),
      images_per_round: Math.ceil(images / batch) * batch,
      rounds,
    });
  }
  await embedder.release();
  return { ...record, cache: cacheContents(cacheDir), peak_rss_mib: Math.round(peakRssMib()) };
}

// ---------------------------------------------------------------- driver

function loadAverage(): number[] {
  return os.loadavg().map((l) => significant(l, 3));
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BENCH_DIR, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: BENCH_DIR, encoding: 'utf8' }).trim();
    return dirty ? `${head} (working tree has changes)` : head;
  } catch {
    return 'unknown';
  }
}

function runWorker(name: string, precision: Precision, cacheDir: string, phase: 'first' | 'cached', images: number) {
  const args = [
    ...process.execArgv,
    SELF,
    '--worker',
    name,
    '--precision',
    precision,
    '--cache-dir',
    cacheDir,
    '--phase',
    phase,
    '--images',
    String(images),
    '--rounds',
    options.rounds,
    '--batch',
    options.batch,
  ];
  return runJsonChild(process.execPath, args, CHILD_TIMEOUT_MS);
}

async function driver(): Promise<void> {
  const models = options.models.split(',').filter(Boolean);
  const header: JsonRecord = {
    case: 'encoders_header',
    ...cpuDescription(),
    date: new Date().toISOString(),
    commit: commit(),
    command:
      `node ${process.execArgv.join(' ')} ${path.relative(process.cwd(), SELF)} ${process.argv.slice(2).join(' ')}`.trim(),
    threads: THREADS,
    batch: positiveInteger(options.batch, 'batch'),
    memory_gib: significant(os.totalmem() / 2 ** 30, 3),
    load_average_start: loadAverage(),
  };
  const results = new Results('encoders');
  const file = results.file('json');
  process.stdout.write(`${JSON.stringify(header)}\n`);
  const rows: JsonRecord[] = [];
  const emit = (row: JsonRecord) => {
    rows.push(row);
    results.emit(row);
  };
  // The file is rewritten after each model, the header first with the load average now: a run cut short keeps what it measured.
  const save = async () => {
    const head = { ...header, load_average_end: loadAverage(), finished: new Date().toISOString() };
    await writeFileAtomic(file, [head, ...rows].map((r) => `${JSON.stringify(r)}\n`).join(''));
  };

  const measured = new Map<string, string>();
  for (const name of models) {
    if (name === 'mobilenetv2' && !existsSync(MOBILENET)) {
      info(`skipping mobilenetv2: ${MOBILENET} is absent (../shared holds the real models)`);
      emit({ case: 'encoder_skipped', encoder: name, reason: `${MOBILENET} is absent` });
      continue;
    }
    let images = positiveInteger(options.images, 'images');
    const extra: JsonRecord = {};
    if (isVitArchName(name)) {
      const arch = JSON.stringify(VIT_ARCHS[name]);
      const twin = measured.get(arch);
      if (twin) {
        emit({ case: 'encoder_same_as', encoder: name, same_architecture_as: twin });
        continue;
      }
      measured.set(arch, name);
      const parameters = parameterCount(name);
      extra.parameters_m = significant(parameters / 1e6);
      if (parameters > GIANT_PARAMETERS) images = positiveInteger(options['giant-images'], 'giant-images');
    } else if (name !== 'default' && name !== 'mobilenetv2')
      throw new Error(`unknown model '${name}'; known: default, mobilenetv2, ${FOUNDATION.join(', ')}`);
    // The ONNX file runs at its own precision: one row.
    const precisions: readonly Precision[] = name === 'mobilenetv2' ? ['fp32'] : PRECISIONS;
    for (const precision of precisions) {
      const label = name === 'mobilenetv2' ? 'file (int8)' : precision;
      const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-encoders-'));
      const row: JsonRecord = { case: 'encoder', encoder: name, precision: label, ...extra, threads: THREADS };
      try {
        info(`${name} ${label}: first run, cache empty (${cacheDir})`);
        const first = await runWorker(name, precision, cacheDir, 'first', images);
        Object.assign(row, {
          descriptor: first.descriptor,
          input_size: first.input_size,
          images_per_s: first.images_per_s,
          round_images_per_s: first.round_images_per_s,
          images_per_round: first.images_per_round,
          rounds: first.rounds,
          first_model_s: first.model_s,
          first_session_s: first.session_s,
          first_warmup_batch_s: first.warmup_batch_s,
          first_peak_rss_mib: first.peak_rss_mib,
          cache: first.cache,
        });
        if ((first.cache as { files: number }).files > 0) {
          info(`${name} ${label}: second run, from the cache`);
          const cached = await runWorker(name, precision, cacheDir, 'cached', images);
          Object.assign(row, {
            cached_model_s: cached.model_s,
            cached_session_s: cached.session_s,
            cached_warmup_batch_s: cached.warmup_batch_s,
            cached_peak_rss_mib: cached.peak_rss_mib,
          });
        } else row.cached = 'not cached: the session is built on every run';
      } catch (err) {
        row.error = err instanceof Error ? err.message : String(err);
      } finally {
        await rm(cacheDir, { recursive: true, force: true });
      }
      row.load_average = loadAverage();
      emit(row);
      await save();
    }
  }
  await save();
  info(`wrote ${file}`);
}

if (options.worker) {
  worker(options.worker).then(
    (record) => process.stdout.write(`${JSON.stringify(record)}\n`),
    (err: unknown) => {
      process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
      process.exitCode = 1;
    },
  );
} else await driver();
