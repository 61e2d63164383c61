/**
 * Vision Transformer embedding benchmark (issue #26): ViT-B/16 and ViT-L/16 at 224² with random
 * weights, on histoseek's VitEmbedder (onnxruntime-node, 2 threads) at fp32 and int8, against
 * PyTorch fp32 (bench/torch_vit.py: the parity tests' reference model, the same weights) in the
 * same run. Each side is one long-lived process holding its model; the driver alternates them, one
 * batch each in a rotating order per round, so that drift in the machine's load hits every side
 * alike. One warm-up batch per side and batch size, then the median of --rounds batches.
 *
 *   node --import tsx bench/embed-vit.ts [--models vit-b16,vit-l16] [--batches 1,8] [--rounds 5]
 *                                        [--openblas environment,cpu]
 *
 * (the second part of `npm run bench:embed`). Run it on an otherwise idle machine: sharing the CPU
 * slows PyTorch's OpenMP threads far more than onnxruntime's (a warning says so). Before timing, each side embeds the same image once:
 * histoseek fp32 must match PyTorch within cosine 0.999, or that PyTorch row is reported as not the
 * same function and left out of the ratios.
 *
 * PyTorch runs twice over: with OpenBLAS as this environment sets it (OPENBLAS_CORETYPE, if set,
 * forces a kernel set) and with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, OpenBLAS picking its
 * kernels for the CPU (--openblas picks either; each PyTorch process of ViT-L holds ~1.5 GB). The
 * ratios are to the faster of those run: the yardstick's best case.
 *
 * FLOP per image count the multiply-adds of the matrix products (2 FLOP each): patch embedding,
 * and in each block qkv, attention scores q·kᵀ, the weighted sum of v, proj, and the MLP's fc1 and
 * fc2. Layer norms, softmax, GELU, biases and residuals are left out (under 1 % of the total).
 *
 * Internally the script also runs as its own worker (--worker fp32|int8 --model NAME --input FILE
 * --batch-max B), answering requests on stdin as torch_vit.py does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { normalizeInto } from '../src/data/image.js';
import { renderPatch, TISSUE_CLASSES } from '../src/data/synthetic/index.js';
import { VitEmbedder } from '../src/engine/vit-session.js';
import type { HostTensor } from '../src/model/host-tensor.js';
import { PRECISIONS, type Precision } from '../src/model/types.js';
import { prefixTokenCount } from '../src/model/vit.js';
import type { VitArch } from '../src/model/encoder.js';
import { VIT_ARCHS, isVitArchName, type VitArchName } from '../src/model/vit-config.js';
import { randomVitEncoder, vitGrid } from '../src/model/vit-weights.js';
import {
  BENCH_DIR,
  ChildError,
  info,
  median,
  numberField,
  peakRssMib,
  Results,
  significant,
  SYSTEM_PYTHON,
  type JsonRecord,
} from './common.js';
import { cpuDescription } from './embed-cpu.js';

const THREADS = 2;
const SEED = 0;
const INPUT_SIZE = 224;
const INSTALL = 'apt-get install python3-torch libopenblas0-openmp';
const TORCH_SCRIPT = path.join(BENCH_DIR, 'torch_vit.py');
const SELF = fileURLToPath(import.meta.url);
/** histoseek fp32 against PyTorch on one image: below this they do not compute the same function. */
const SAME_FUNCTION_COSINE = 0.999;
/** Building a ViT-L session and calibrating it at int8 takes minutes on 2 busy cores; a batch, tens of seconds. */
const START_TIMEOUT_MS = 20 * 60_000;
const REQUEST_TIMEOUT_MS = 10 * 60_000;
/** A 1-minute load average above this at the start: other work shares the CPU. */
const BUSY_LOAD = 0.5;
/** The OpenBLAS settings this environment may force (see the machine notes); unset, OpenBLAS picks for the CPU. */
const OPENBLAS_OVERRIDES = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'] as const;

const { values: options } = parseArgs({
  options: {
    models: { type: 'string', default: 'vit-b16,vit-l16' },
    batches: { type: 'string', default: '1,8' },
    rounds: { type: 'string', default: '5' },
    openblas: { type: 'string', default: 'environment,cpu' },
    worker: { type: 'string' },
    model: { type: 'string' },
    input: { type: 'string' },
    'batch-max': { type: 'string' },
  },
});

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${option} must be a positive integer, got '${text}'`);
  return n;
}

type OpenblasSetting = 'environment' | 'cpu';
const OPENBLAS_SETTINGS: readonly OpenblasSetting[] = ['environment', 'cpu'];

function openblasSetting(text: string): OpenblasSetting {
  const setting = OPENBLAS_SETTINGS.find((s) => s === text);
  if (!setting) throw new Error(`--openblas takes ${OPENBLAS_SETTINGS.join(', ')}; got '${text}'`);
  return setting;
}

function archName(text: string): VitArchName {
  if (!isVitArchName(text)) throw new Error(`unknown ViT '${text}'; known: ${Object.keys(VIT_ARCHS).join(', ')}`);
  return text;
}

// ---------------------------------------------------------------- arithmetic

/** Multiply-adds of one image's matrix products (see the header for what counts). */
function vitMultiplyAdds(arch: VitArch, inputSize: number): number {
  const patches = vitGrid(arch, inputSize) ** 2;
  const tokens = patches + prefixTokenCount(arch);
  const d = arch.embedDim;
  const fc2Inputs = arch.mlp === 'swiglu' ? arch.mlpHidden / 2 : arch.mlpHidden;
  const block =
    tokens * d * 3 * d + // qkv
    2 * tokens * tokens * d + // scores q·kᵀ and the weighted sum of v, all heads together
    tokens * d * d + // proj
    tokens * d * arch.mlpHidden + // fc1
    tokens * fc2Inputs * d; // fc2
  return patches * d * 3 * arch.patchSize ** 2 + arch.depth * block;
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

// ---------------------------------------------------------------- long-lived JSON-lines children

/**
 * A child process that answers each JSON request line on its stdin with one JSON line on stdout;
 * its first line says it is ready. An answer with an `error`, an exit or a request past its
 * timeout (the child is then killed) rejects with a ChildError.
 */
class LineChild {
  private readonly pending: { resolve: (r: JsonRecord) => void; reject: (e: Error) => void }[] = [];
  private stderrTail = '';
  private ended: ChildError | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly label: string,
  ) {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk).slice(-2000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const waiter = this.pending.shift();
      if (!waiter) return;
      let answer: JsonRecord;
      try {
        answer = JSON.parse(line) as JsonRecord;
      } catch {
        waiter.reject(new ChildError(`${label} answered '${line.slice(0, 200)}', not JSON`));
        return;
      }
      if (typeof answer.error === 'string') waiter.reject(new ChildError(`${label}: ${answer.error}`));
      else waiter.resolve(answer);
    });
    child.on('error', (e: NodeJS.ErrnoException) =>
      this.fail(new ChildError(`cannot run ${label}: ${e.message}`, e.code)),
    );
    child.on('close', (status, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with status ${status}`;
      this.fail(new ChildError(`${label} ${how}${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`));
    });
  }

  /** Starts the child and waits for its ready line. */
  static async start(
    label: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ): Promise<{ child: LineChild; ready: JsonRecord }> {
    const child = new LineChild(spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] }), label);
    return { child, ready: await child.next(START_TIMEOUT_MS) };
  }

  request(request: JsonRecord, timeoutMs = REQUEST_TIMEOUT_MS): Promise<JsonRecord> {
    if (this.ended) return Promise.reject(this.ended);
    this.child.stdin!.write(`${JSON.stringify(request)}\n`);
    return this.next(timeoutMs);
  }

  /** Ends its input, so that it exits, and waits for it. */
  async close(): Promise<void> {
    if (this.ended) return;
    const closed = new Promise((resolve) => this.child.once('close', resolve));
    this.child.stdin!.end();
    await closed;
  }

  private next(timeoutMs: number): Promise<JsonRecord> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGTERM');
        reject(new ChildError(`${this.label} did not answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const settle =
        <T>(f: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          f(value);
        };
      this.pending.push({ resolve: settle(resolve), reject: settle(reject) });
    });
  }

  private fail(error: ChildError): void {
    this.ended ??= error;
    for (const waiter of this.pending.splice(0)) waiter.reject(error);
  }
}

// ---------------------------------------------------------------- our engine (worker process)

function answer(record: JsonRecord): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

async function worker(precision: Precision, model: VitArchName, inputFile: string, batchMax: number): Promise<void> {
  const start = performance.now();
  const spec = randomVitEncoder(model, VIT_ARCHS[model], SEED);
  const embedder = await VitEmbedder.create(spec, { threads: THREADS, precision, inputSize: INPUT_SIZE });
  // Copied into a fresh buffer: a Buffer's byte offset need not be float-aligned.
  const data = new Float32Array(new Uint8Array(await readFile(inputFile)).buffer);
  const image = 3 * INPUT_SIZE * INPUT_SIZE;
  if (data.length !== batchMax * image) throw new Error(`${inputFile} does not hold ${batchMax} images`);
  const batch = (n: number): HostTensor => ({
    shape: [n, 3, INPUT_SIZE, INPUT_SIZE],
    data: data.subarray(0, n * image),
  });
  answer({ ready: true, build_s: (performance.now() - start) / 1000 });
  for await (const line of createInterface({ input: process.stdin })) {
    const request = JSON.parse(line) as { op: string; batch?: number };
    if (request.op === 'run') {
      const input = batch(request.batch!);
      const t = performance.now();
      await embedder.embed(input);
      answer({ seconds: (performance.now() - t) / 1000 });
    } else if (request.op === 'embed') answer({ embedding: Array.from((await embedder.embed(batch(1))).data) });
    else if (request.op === 'rss') answer({ peak_rss_mib: peakRssMib() });
    else answer({ error: `unknown request ${line}` });
  }
  await embedder.release();
}

// ---------------------------------------------------------------- the sides

interface Side {
  engine: 'histoseek' | 'pytorch';
  precision: Precision;
  /** PyTorch only: 'environment' (OpenBLAS as this environment sets it) or 'cpu' (its own choice for the CPU). */
  openblas?: OpenblasSetting;
  label: string;
  child: LineChild;
  ready: JsonRecord;
}

async function startOurs(model: VitArchName, precision: Precision, inputFile: string, batchMax: number): Promise<Side> {
  const label = `histoseek ${model} ${precision}`;
  info(`${label}: building the session${precision === 'int8' ? ' and calibrating' : ''}…`);
  const args = [...process.execArgv, SELF, '--worker', precision, '--model', model, '--input', inputFile];
  // No model cache: every run builds (and at int8 calibrates) afresh, and no GB-sized files are left behind.
  const env = { ...process.env, HISTOSEEK_CACHE_DIR: 'off' };
  const started = await LineChild.start(label, process.execPath, [...args, '--batch-max', String(batchMax)], env);
  info(`${label}: ready in ${numberField(started.ready, 'build_s').toFixed(1)} s`);
  return { engine: 'histoseek', precision, label, ...started };
}

/**
 * The PyTorch sides: one per OpenBLAS setting asked for ('environment' is left out when this
 * environment forces none: it would be 'cpu' again); errors for those that cannot run.
 */
async function startTorch(
  model: VitArchName,
  inputFile: string,
  batchMax: number,
  openblasSettings: readonly OpenblasSetting[],
): Promise<{ sides: Side[]; errors: string[] }> {
  const args = [
    TORCH_SCRIPT,
    '--arch',
    JSON.stringify(VIT_ARCHS[model]),
    '--input',
    inputFile,
    '--batch-max',
    String(batchMax),
    '--input-size',
    String(INPUT_SIZE),
    '--threads',
    String(THREADS),
    '--seed',
    String(SEED),
  ];
  const forced = OPENBLAS_OVERRIDES.some((name) => process.env[name] !== undefined);
  const settings: readonly OpenblasSetting[] = forced ? openblasSettings : ['cpu'];
  const sides: Side[] = [];
  const errors: string[] = [];
  for (const openblas of settings) {
    const env = { ...process.env };
    if (openblas === 'cpu') for (const name of OPENBLAS_OVERRIDES) delete env[name];
    const label = `PyTorch ${model} fp32 (OpenBLAS: ${openblas === 'cpu' ? 'its own choice' : "the environment's"})`;
    info(`${label}: loading…`);
    try {
      const started = await LineChild.start(label, SYSTEM_PYTHON, args, env);
      info(`${label}: torch ${String(started.ready.torch)}, kernels ${String(started.ready.openblas_corename)}`);
      sides.push({ engine: 'pytorch', precision: 'fp32', openblas, label, ...started });
    } catch (e) {
      const missing = e instanceof ChildError && e.code === 'ENOENT';
      errors.push(missing ? `${SYSTEM_PYTHON} not found; install: ${INSTALL}` : (e as Error).message);
    }
  }
  return { sides, errors };
}

/** Per side, the seconds of `rounds` batches after one warm-up each, the sides taking turns in a rotating order. */
async function alternate(sides: readonly Side[], batch: number, rounds: number): Promise<Map<Side, number[]>> {
  const seconds = new Map(sides.map((s) => [s, [] as number[]]));
  for (const side of sides) await side.child.request({ op: 'run', batch });
  for (let round = 0; round < rounds; round++) {
    info(`batch ${batch}: round ${round + 1} of ${rounds}…`);
    for (let i = 0; i < sides.length; i++) {
      const side = sides[(i + round) % sides.length];
      seconds.get(side)!.push(numberField(await side.child.request({ op: 'run', batch }), 'seconds'));
    }
  }
  return seconds;
}

// ---------------------------------------------------------------- one model

/** Images normalised as every histoseek embedder's input: synthetic H&E patches, one tissue class after another. */
function benchImages(batchMax: number): Float32Array {
  const image = 3 * INPUT_SIZE * INPUT_SIZE;
  const data = new Float32Array(batchMax * image);
  for (let i = 0; i < batchMax; i++)
    normalizeInto(
      renderPatch(TISSUE_CLASSES[i % TISSUE_CLASSES.length], INPUT_SIZE, 9100 + i),
      INPUT_SIZE,
      data,
      i * image,
    );
  return data;
}

async function benchModel(
  results: Results,
  model: VitArchName,
  inputFile: string,
  batches: number[],
  rounds: number,
  openblasSettings: readonly OpenblasSetting[],
): Promise<void> {
  const batchMax = Math.max(...batches);
  const gflopPerImage = (2 * vitMultiplyAdds(VIT_ARCHS[model], INPUT_SIZE)) / 1e9;
  const ours: Side[] = [];
  let torch: { sides: Side[]; errors: string[] } = { sides: [], errors: [] };
  try {
    for (const precision of PRECISIONS) ours.push(await startOurs(model, precision, inputFile, batchMax));
    torch = await startTorch(model, inputFile, batchMax, openblasSettings);

    // The same image through every side: is PyTorch computing histoseek's function?
    const embeddings = new Map<Side, number[]>();
    for (const side of [...ours, ...torch.sides])
      embeddings.set(side, (await side.child.request({ op: 'embed' })).embedding as number[]);
    const [fp32, int8] = ours;
    const yardsticks = torch.sides.filter(
      (s) => cosine(embeddings.get(fp32)!, embeddings.get(s)!) >= SAME_FUNCTION_COSINE,
    );
    // 1 − cosine: the agreement's digits, where the cosine itself would round to 1.
    const distance = (a: Side, b: Side) => significant(1 - cosine(embeddings.get(a)!, embeddings.get(b)!), 3);
    results.emit({
      case: 'embed_vit_agreement',
      model,
      input_size: INPUT_SIZE,
      same_function_cosine: SAME_FUNCTION_COSINE,
      one_minus_cosine_int8_vs_fp32: distance(int8, fp32),
      ...Object.fromEntries(
        torch.sides.flatMap((s) => [
          [`one_minus_cosine_fp32_vs_pytorch_openblas_${s.openblas}`, distance(fp32, s)],
          [`one_minus_cosine_int8_vs_pytorch_openblas_${s.openblas}`, distance(int8, s)],
        ]),
      ),
      same_function: torch.sides.map((s) => ({ openblas: s.openblas, same: yardsticks.includes(s) })),
      ...(torch.errors.length ? { error: torch.errors.join('; ') } : {}),
    });

    const sides = [...ours, ...torch.sides];
    for (const batch of batches) {
      const loadBefore = os.loadavg()[0];
      const seconds = await alternate(sides, batch, rounds);
      const loadAfter = os.loadavg()[0];
      const imagesPerS = (side: Side) => batch / median(seconds.get(side)!);
      const best = yardsticks.length ? Math.max(...yardsticks.map(imagesPerS)) : null;
      for (const side of sides) {
        const rate = imagesPerS(side);
        results.emit({
          case: 'embed_vit',
          model,
          engine: side.engine,
          precision: side.precision,
          ...(side.openblas
            ? {
                openblas: side.openblas,
                openblas_kernels: side.ready.openblas_corename,
                openblas_coretype: side.ready.openblas_coretype_env ?? null,
                torch: side.ready.torch,
                same_function: yardsticks.includes(side),
              }
            : { build_s: significant(numberField(side.ready, 'build_s'), 3) }),
          batch,
          images_per_s: significant(rate),
          ms_per_image: significant(1000 / rate),
          gflop_per_image: significant(gflopPerImage),
          gflop_per_s: significant(rate * gflopPerImage),
          ratio_to_pytorch_fp32: best === null ? null : significant(rate / best, 3),
          batch_seconds: seconds.get(side)!.map((s) => significant(s)),
          threads: THREADS,
          input_size: INPUT_SIZE,
          rounds,
          load_average: [significant(loadBefore, 3), significant(loadAfter, 3)],
          ...cpuDescription(),
          ...(best === null ? { error: torch.errors.join('; ') || 'no PyTorch run computed the same function' } : {}),
        });
      }
    }
    for (const side of sides)
      results.emit({
        case: 'embed_vit_memory',
        model,
        engine: side.engine,
        precision: side.precision,
        ...(side.openblas ? { openblas: side.openblas } : {}),
        // Each side is its own process: its peak includes building (histoseek: and calibrating) its model.
        peak_rss_mib: significant(numberField(await side.child.request({ op: 'rss' }), 'peak_rss_mib')),
      });
  } finally {
    for (const side of [...ours, ...torch.sides]) await side.child.close();
  }
}

async function main(): Promise<void> {
  const models = options.models.split(',').map(archName);
  const batches = options.batches.split(',').map((b) => positiveInteger(b, '--batches'));
  const rounds = positiveInteger(options.rounds, '--rounds');
  const openblasSettings = [...new Set(options.openblas.split(',').map(openblasSetting))];
  const results = new Results('embed-vit');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-vit-'));
  try {
    const inputFile = path.join(dir, 'input.f32');
    const input = benchImages(Math.max(...batches));
    await writeFile(inputFile, new Uint8Array(input.buffer));
    const loads = os.loadavg();
    info(`load average ${loads.map((l) => l.toFixed(2)).join(', ')} on ${os.cpus().length} CPUs`);
    // Measured on the 2-core reference machine, at load 4–5 against idle: PyTorch's OpenMP threads
    // lost ~10×, onnxruntime's 2.5–4×. Alternating rounds cannot even out a difference in kind.
    if (loads[0] > BUSY_LOAD)
      info(
        `warning: the CPU is busy (load ${loads[0].toFixed(2)}); PyTorch suffers far more from sharing it, so the ratios will be inflated`,
      );
    for (const model of models) await benchModel(results, model, inputFile, batches, rounds, openblasSettings);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  info(`wrote ${await results.save()}`);
}

if (options.worker !== undefined) {
  const precision = options.worker as Precision;
  if (!PRECISIONS.includes(precision)) throw new Error(`--worker must be one of ${PRECISIONS.join(', ')}`);
  if (!options.model || !options.input || !options['batch-max'])
    throw new Error('--worker needs --model NAME, --input FILE and --batch-max B');
  await worker(precision, archName(options.model), options.input, positiveInteger(options['batch-max'], '--batch-max'));
} else {
  await main();
}
