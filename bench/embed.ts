/**
 * Embedding benchmark: histoseek's onnxruntime-node engine against the PyTorch reference model
 * (bench/torch_embed.py), for the full LGFFEM and for the ConvNeXt V2 backbone alone. Reports
 * images/s (median batch after one warm-up batch), their ratio, and peak RSS, on the same random
 * input. Every engine and part runs in its own child process, so each peak RSS is its own.
 *
 *   npm run bench:embed [-- --rounds N] [-- --quick]
 *
 * Then the whole-process case: `histoseek embed` of 48 PNG files (start-up, reading, resizing,
 * embedding, writing), first with an empty model cache, then with the cache filled, against one
 * PyTorch process doing the same (bench/torch_embed.py --images). Each of ours runs at fp32 and at
 * int8 (the int8 model: its calibration is in the worker's set-up, not timed, and in the whole
 * process's cold run); PyTorch runs float32. Every record names the CPU and its vector extensions,
 * and the precision.
 *
 * --quick: preset atto, C=128, 1 round, for a smoke test. Internally the script also runs as its
 * own worker (--worker full|backbone --input FILE --precision fp32|int8): one part on our engine, answering in JSON.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { INPUT_NAME } from '../src/engine/graph-names.js';
import { buildOnnxGraph } from '../src/engine/onnx-graph.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { calibrateInt8 } from '../src/engine/int8-calibration.js';
import { randomModel, saveCheckpoint } from '../src/model/checkpoint.js';
import { PRECISIONS, type Model, type Precision } from '../src/model/types.js';
import type { ModelConfig } from '../src/model/config.js';
import { elementCount, type HostTensor } from '../src/model/host-tensor.js';
import { backbone } from '../src/model/lgffem.js';
import { Random } from '../src/util/random.js';
import {
  BENCH_DIR,
  ChildError,
  info,
  median,
  numberField,
  peakRssMib,
  Results,
  runNodeWorker,
  runPython,
  significant,
  SYSTEM_PYTHON,
  timeRounds,
  type JsonRecord,
} from './common.js';
import { cpuDescription } from './embed-cpu.js';

const BATCH = 8;
const THREADS = 2;
const SEED = 0;
const INSTALL = 'apt-get install python3-torch libopenblas0-openmp';
const PARTS = ['full', 'backbone'] as const;
type Part = (typeof PARTS)[number];
// The yardstick runs in both layouts and the faster counts: a fair comparison, not a straw man.
const TORCH_LAYOUTS = ['nchw', 'channels_last'] as const;
const SELF = fileURLToPath(import.meta.url);
const HISTOSEEK = path.join(BENCH_DIR, '..', 'bin', 'histoseek.js');
const PROCESS_IMAGES = 48;
const TORCH_SCRIPT = path.join(BENCH_DIR, 'torch_embed.py');

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    worker: { type: 'string' },
    input: { type: 'string' },
    precision: { type: 'string', default: 'fp32' },
  },
});

const config: ModelConfig = options.quick
  ? { preset: 'atto', neckChannels: 128, neckLayers: 3, gemP: 4.6, inputSize: 224 }
  : { preset: 'tiny', neckChannels: 512, neckLayers: 3, gemP: 4.6, inputSize: 224 };
const rounds = parseRounds(options.rounds ?? (options.quick ? '1' : '3'));
const inputShape = [BATCH, 3, config.inputSize, config.inputSize];

function parseRounds(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--rounds must be a positive integer, got '${text}'`);
  return n;
}

function isPart(name: string): name is Part {
  return (PARTS as readonly string[]).includes(name);
}

// ---------------------------------------------------------------- our engine (worker process)

interface Runner {
  run(input: HostTensor): Promise<unknown>;
  release(): Promise<void>;
}

/**
 * A session of the whole model (as `histoseek embed` runs it, calibrated and cached at int8), or of
 * the backbone graph alone (at int8 with the whole model's calibrated ranges).
 */
async function ourRunner(part: Part, model: Model, precision: Precision): Promise<Runner> {
  if (part === 'full') {
    const embedder = await OnnxEmbedder.create({ ...model, precision }, { threads: THREADS });
    return { run: (input) => embedder.embed(input), release: () => embedder.release() };
  }
  const ranges = precision === 'int8' ? await calibrateInt8(model, THREADS) : null;
  const bytes = buildOnnxGraph(
    model.weights,
    [{ name: INPUT_NAME, layout: 'NCHW' }],
    (ops, [x]) => new Map(backbone(ops, x, model.config).map((t, i) => [`backbone.${i}`, t])),
    'NCHW',
    ranges ? { mode: 'int8', ranges } : undefined,
  );
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  return {
    run: (input) => session.run({ [INPUT_NAME]: new ort.Tensor('float32', input.data, input.shape) }),
    release: () => session.release(),
  };
}

async function worker(part: Part, inputFile: string, precision: Precision): Promise<JsonRecord> {
  // Copied into a fresh buffer: a Buffer's byte offset need not be float-aligned.
  const data = new Float32Array(new Uint8Array(await readFile(inputFile)).buffer);
  const runner = await ourRunner(part, randomModel(config, SEED), precision);
  const input: HostTensor = { shape: inputShape, data };
  const seconds = await timeRounds(() => runner.run(input), rounds);
  await runner.release();
  return { images_per_s: BATCH / median(seconds), batch_seconds: seconds, peak_rss_mib: peakRssMib() };
}

// ---------------------------------------------------------------- PyTorch yardstick

interface Yardstick {
  best: JsonRecord;
  imagesPerSByLayout: Record<string, number>;
}

/** The PyTorch script's model, batch and thread arguments: the same in every case. */
function torchModelArgs(): string[] {
  return [
    '--preset',
    config.preset,
    '--neck-channels',
    String(config.neckChannels),
    '--neck-layers',
    String(config.neckLayers),
    '--gem-p',
    String(config.gemP),
    '--batch',
    String(BATCH),
    '--input-size',
    String(config.inputSize),
    '--threads',
    String(THREADS),
  ];
}

async function yardstick(part: Part, inputFile: string): Promise<Yardstick | { error: string }> {
  const args = [
    '--input',
    inputFile,
    '--part',
    part,
    ...torchModelArgs(),
    '--rounds',
    String(rounds),
    '--seed',
    String(SEED),
  ];
  const imagesPerSByLayout: Record<string, number> = {};
  let best: JsonRecord | undefined;
  try {
    for (const layout of TORCH_LAYOUTS) {
      info(`${part}: PyTorch reference, ${layout}…`);
      const answer = await runPython(TORCH_SCRIPT, [...args, '--layout', layout]);
      imagesPerSByLayout[layout] = numberField(answer, 'images_per_s');
      if (!best || imagesPerSByLayout[layout] > numberField(best, 'images_per_s')) best = answer;
    }
  } catch (e) {
    const missingPython = e instanceof ChildError && e.code === 'ENOENT';
    return { error: missingPython ? `${SYSTEM_PYTHON} not found; install: ${INSTALL}` : (e as Error).message };
  }
  info(`${part}: PyTorch ${String(best!.torch)}, BLAS ${JSON.stringify(best!.blas)}`);
  return { best: best!, imagesPerSByLayout };
}

// ---------------------------------------------------------------- report

/** One part at one precision of ours against PyTorch's float32. */
function record(part: Part, precision: Precision, ours: JsonRecord, theirs: Yardstick | { error: string }): JsonRecord {
  const oursImagesPerS = numberField(ours, 'images_per_s');
  const measured = 'best' in theirs;
  const theirImagesPerS = measured ? numberField(theirs.best, 'images_per_s') : undefined;
  return {
    case: `embed_${part}`,
    histoseek_images_per_s: significant(oursImagesPerS),
    pytorch_images_per_s: theirImagesPerS === undefined ? null : significant(theirImagesPerS),
    ratio: theirImagesPerS === undefined ? null : significant(oursImagesPerS / theirImagesPerS, 3),
    histoseek_peak_rss_mib: significant(numberField(ours, 'peak_rss_mib')),
    pytorch_peak_rss_mib: measured ? significant(numberField(theirs.best, 'peak_rss_mib')) : null,
    batch: BATCH,
    threads: THREADS,
    preset: config.preset,
    neck_channels: config.neckChannels,
    neck_layers: config.neckLayers,
    input_size: config.inputSize,
    pytorch_layout: measured ? theirs.best.layout : null,
    pytorch_images_per_s_by_layout: measured
      ? Object.fromEntries(Object.entries(theirs.imagesPerSByLayout).map(([k, v]) => [k, significant(v)]))
      : null,
    rounds,
    precision,
    ...cpuDescription(),
    ...(measured ? {} : { error: theirs.error }),
  };
}

/** Runs a command to its end; resolves to its wall time in seconds, or throws with its stderr. */
function timeProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve((performance.now() - start) / 1000);
      else reject(new Error(`${path.basename(command)} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/** The whole-process case's inputs: PROCESS_IMAGES PNG files and the model's checkpoint. */
async function wholeProcessInputs(dir: string): Promise<{ images: string; weights: string }> {
  const images = path.join(dir, 'images');
  await mkdir(images);
  const random = new Random(SEED + 1);
  for (let i = 0; i < PROCESS_IMAGES; i++) {
    const pixels = Uint8Array.from({ length: 256 * 256 * 3 }, () => Math.floor(random.uniform() * 256));
    await sharp(pixels, { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toFile(path.join(images, `patch-${String(i).padStart(2, '0')}.png`));
  }
  const weights = path.join(dir, 'model.safetensors');
  await saveCheckpoint(weights, randomModel(config, SEED));
  return { images, weights };
}

/**
 * `histoseek embed` of PROCESS_IMAGES PNG files at `precision`, cold (an empty model cache: at int8
 * that includes calibrating) and warm, against one PyTorch process (float32) doing the same.
 */
async function wholeProcess(
  dir: string,
  inputs: { images: string; weights: string },
  precision: Precision,
  torchLayout: string | null,
): Promise<JsonRecord> {
  const { images, weights } = inputs;
  const embed = () =>
    timeProcess(
      process.execPath,
      [
        HISTOSEEK,
        'embed',
        images,
        '--weights',
        weights,
        '--out',
        path.join(dir, 'ours.safetensors'),
        '--batch',
        String(BATCH),
        '--threads',
        String(THREADS),
        '--precision',
        precision,
      ],
      { HISTOSEEK_CACHE_DIR: path.join(dir, `cache-${precision}`) },
    );
  info(`whole process: histoseek embed of ${PROCESS_IMAGES} images at ${precision}, empty model cache, then filled…`);
  const cold = await embed();
  const warm = await embed();
  let pytorch: number | null = null;
  let error: string | undefined;
  try {
    info(`whole process: one PyTorch process embedding the same ${PROCESS_IMAGES} images…`);
    pytorch = await timeProcess(SYSTEM_PYTHON, [
      TORCH_SCRIPT,
      '--images',
      images,
      '--out',
      path.join(dir, 'torch.npy'),
      ...torchModelArgs(),
      '--seed',
      String(SEED),
      '--layout',
      torchLayout ?? 'nchw',
    ]);
  } catch (e) {
    error = (e as Error).message;
  }
  return {
    case: 'embed_whole_process',
    images: PROCESS_IMAGES,
    histoseek_s_cold_cache: significant(cold),
    histoseek_s: significant(warm),
    pytorch_s: pytorch === null ? null : significant(pytorch),
    ratio: pytorch === null ? null : significant(pytorch / warm, 3),
    ratio_cold_cache: pytorch === null ? null : significant(pytorch / cold, 3),
    batch: BATCH,
    threads: THREADS,
    preset: config.preset,
    neck_channels: config.neckChannels,
    neck_layers: config.neckLayers,
    input_size: config.inputSize,
    pytorch_layout: torchLayout,
    precision,
    ...cpuDescription(),
    ...(error ? { error } : {}),
  };
}

async function main(): Promise<void> {
  const results = new Results('embed');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-'));
  try {
    // One input file for every engine: N(0, 1) values, like normalised images.
    const inputFile = path.join(dir, 'input.f32');
    const input = new Random(SEED).fillNormal(new Float32Array(elementCount(inputShape)));
    await writeFile(inputFile, new Uint8Array(input.buffer));
    const quick = options.quick ? ['--quick'] : [];
    let fullLayout: string | null = null;
    for (const part of PARTS) {
      info(
        `${part}: histoseek (onnxruntime-node), ${config.preset}, C=${config.neckChannels}, L=${config.neckLayers}…`,
      );
      const ours = new Map<Precision, JsonRecord>();
      for (const precision of PRECISIONS) {
        info(`${part}: histoseek at ${precision}…`);
        const args = ['--worker', part, '--input', inputFile, '--rounds', String(rounds), '--precision', precision];
        ours.set(precision, await runNodeWorker(SELF, [...args, ...quick]));
      }
      const theirs = await yardstick(part, inputFile);
      if (part === 'full' && 'best' in theirs) fullLayout = String(theirs.best.layout);
      for (const [precision, figures] of ours) results.emit(record(part, precision, figures, theirs));
    }
    const processInputs = await wholeProcessInputs(dir);
    for (const precision of PRECISIONS) results.emit(await wholeProcess(dir, processInputs, precision, fullLayout));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  info(`wrote ${await results.save()}`);
}

if (options.worker !== undefined) {
  if (!isPart(options.worker) || !options.input)
    throw new Error(`--worker needs one of ${PARTS.join(', ')} and --input FILE`);
  const precision = options.precision as Precision;
  if (!PRECISIONS.includes(precision)) throw new Error(`--precision must be one of ${PRECISIONS.join(', ')}`);
  process.stdout.write(`${JSON.stringify(await worker(options.worker, options.input, precision))}\n`);
} else {
  await main();
}
