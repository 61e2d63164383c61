/**
 * Seconds per training step of LGFFEM's neck + head (forward, Sub-center ArcFace, backward, grad
 * clip, AdamW amsgrad) on cached backbone features: histoseek (the training graphs on onnxruntime,
 * 2 threads) side by side with the same step in PyTorch (bench/torch_train_step.py, 2 threads), in
 * the same run.
 *
 * GFLOP/s count a step as three forward passes of neck and head (forward, then a backward pass of
 * twice its work), 2 FLOP per multiply-add of the convolutions and linear maps, for both sides.
 *
 *   node --import tsx bench/train-step.ts [--batch 8] [--channels 512] [--layers 3] [--rounds 3] [--micro-batch 2] [--quick]
 */
import { parseArgs } from 'node:util';
import { randomModel } from '../src/model/checkpoint.js';
import { BACKBONE_PRESETS, type ModelConfig } from '../src/model/config.js';
import { neckHeadMultiplyAdds } from '../src/model/params.js';
import { ADAMW_DEFAULTS, AdamW } from '../src/train/adamw.js';
import { NeckHead } from '../src/train/neck-head.js';
import type { HostPyramid } from '../src/model/host-tensor.js';
import { TrainStep } from '../src/train/step.js';
import { PAPER_ARCFACE } from '../src/engine/onnx-arcface.js';
import { Random } from '../src/util/random.js';
import {
  BENCH_DIR,
  ChildError,
  info,
  median,
  numberField,
  peakRssMib,
  Results,
  runPython,
  significant,
  timeRounds,
} from './common.js';

const { values: opts } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    channels: { type: 'string', default: '512' },
    layers: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    'micro-batch': { type: 'string', default: '2' },
    reference: { type: 'string', default: `${BENCH_DIR}/../../shared/reference` },
    quick: { type: 'boolean', default: false },
  },
});
const quick = opts.quick!;
const config: ModelConfig = {
  preset: 'tiny',
  neckChannels: quick ? 64 : Number(opts.channels),
  neckLayers: Number(opts.layers),
  gemP: 4.6,
  inputSize: 224,
};
const batch = Number(opts.batch);
const rounds = quick ? 1 : Number(opts.rounds);
const microBatch = Number(opts['micro-batch']);
const CLASSES = 24;

function backboneFeatures(seed: number): HostPyramid {
  const random = new Random(seed);
  return BACKBONE_PRESETS[config.preset].dims.map((c, i) => {
    const side = config.inputSize / 2 ** (i + 2);
    const shape = [batch, side, side, c];
    return { shape, data: random.fillNormal(new Float32Array(shape.reduce((a, b) => a * b))) };
  }) as HostPyramid;
}

async function histoseekStep(): Promise<number> {
  const weights = randomModel(config, 1).weights;
  const model = new NeckHead(config, weights);
  const dim = 4 * config.neckChannels;
  const W = { shape: [dim, CLASSES * 3], data: new Random(2).fillNormal(new Float32Array(dim * CLASSES * 3)) };
  const arcface = { classes: CLASSES, ...PAPER_ARCFACE };
  const step = await TrainStep.create(
    model,
    W,
    new AdamW({ ...ADAMW_DEFAULTS, weightDecay: 1e-5 }),
    new AdamW(ADAMW_DEFAULTS),
    { arcface, clipNorm: 1, microBatch },
    2,
  );
  const features = backboneFeatures(3);
  const labels = Array.from({ length: batch }, (_, i) => i % CLASSES);
  const random = new Random(4);
  info(
    `histoseek: ${rounds} timed steps after one warm-up (batch ${batch}, C=${config.neckChannels}, L=${config.neckLayers})`,
  );
  const seconds = await timeRounds(() => step.run(features, labels, random, 5e-3, 1e-4), rounds);
  await step.close();
  return median(seconds);
}

async function pytorchStep(): Promise<Record<string, unknown>> {
  info('PyTorch: same step (bench/torch_train_step.py)');
  const args = [
    opts.reference!,
    '--preset',
    config.preset,
    '--channels',
    String(config.neckChannels),
    '--layers',
    String(config.neckLayers),
    '--batch',
    String(batch),
    '--classes',
    String(CLASSES),
    '--rounds',
    String(rounds),
    '--threads',
    '2',
  ];
  return runPython(`${BENCH_DIR}/torch_train_step.py`, args);
}

const gflopPerStep = (3 * 2 * neckHeadMultiplyAdds(config) * batch) / 1e9;
const results = new Results('train-step');
const record = {
  case: 'train_step',
  batch,
  neck_channels: config.neckChannels,
  neck_layers: config.neckLayers,
  preset: config.preset,
  input_size: config.inputSize,
  micro_batch: microBatch,
  threads: 2,
  gflop_per_step: significant(gflopPerStep),
};
const ours = await histoseekStep();
const oursRss = peakRssMib();
try {
  const theirs = await pytorchStep();
  const theirSeconds = numberField(theirs, 'pytorch_s_per_step');
  results.emit({
    ...record,
    histoseek_s_per_step: significant(ours),
    pytorch_s_per_step: significant(theirSeconds),
    ratio: significant(ours / theirSeconds, 3),
    histoseek_gflop_per_s: significant(gflopPerStep / ours),
    pytorch_gflop_per_s: significant(gflopPerStep / theirSeconds),
    histoseek_peak_rss_mib: Math.round(oursRss),
    pytorch_peak_rss_mib: Math.round(numberField(theirs, 'pytorch_peak_rss_mib')),
  });
} catch (err) {
  const why = err instanceof ChildError ? err.message : String(err);
  results.emit({
    ...record,
    histoseek_s_per_step: significant(ours),
    histoseek_gflop_per_s: significant(gflopPerStep / ours),
    histoseek_peak_rss_mib: Math.round(oursRss),
    error: `PyTorch yardstick unavailable (${why}); install it with: apt-get install python3-torch libopenblas0-openmp`,
  });
}
info(`results written to ${await results.save()}`);
