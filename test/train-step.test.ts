import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromTrainingLayout, toTrainingLayout } from '../src/engine/training-layout.js';
import { loadCheckpoint, randomModel } from '../src/model/checkpoint.js';
import type { ModelConfig } from '../src/model/config.js';
import type { HostPyramid, HostTensor } from '../src/model/host-tensor.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { ADAMW_DEFAULTS, AdamW } from '../src/train/adamw.js';
import { NeckHead } from '../src/train/neck-head.js';
import { TrainStep } from '../src/train/step.js';
import { Random } from '../src/util/random.js';
import { assertClose, FIXTURE_WEIGHTS, FIXTURES, PARITY_TOLERANCE, relativeMaxError } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const CONFIG: ModelConfig = { preset: 'test', neckChannels: 8, neckLayers: 2, gemP: 4.6, inputSize: 64 };
const DIMS = [16, 32, 64, 128];
const BATCH = 5;
const ARCFACE = { classes: 3, subCenters: 2, marginDegrees: 17.2, scale: 16 };
const LABELS = [0, 1, 2, 0, 1];

function features(seed: number, batch = BATCH): HostPyramid {
  const random = new Random(seed);
  return DIMS.map((c, i) => {
    const side = CONFIG.inputSize / 2 ** (i + 2);
    const shape = [batch, side, side, c];
    return { shape, data: random.fillNormal(new Float32Array(shape.reduce((a, b) => a * b))) };
  }) as HostPyramid;
}

/** A model whose every parameter is non-trivial (GRN gains, alphas, fusion weights all away from their init). */
function perturbedWeights(seed: number) {
  const weights = randomModel(CONFIG, seed).weights;
  const random = new Random(seed + 1);
  for (const [name, w] of weights) {
    if (name.startsWith('backbone.') || name.endsWith('running_var')) continue;
    for (let i = 0; i < w.data.length; i++) w.data[i] += 0.2 * random.normal();
  }
  return weights;
}

function makeStep(model: NeckHead, microBatch: number, arcface = ARCFACE, W?: HostTensor): Promise<TrainStep> {
  const dim = 4 * model.config.neckChannels;
  const lossW = W ?? {
    shape: [dim, arcface.classes * arcface.subCenters],
    data: new Random(9).fillNormal(new Float32Array(dim * arcface.classes * arcface.subCenters)),
  };
  return TrainStep.create(model, lossW, new AdamW(ADAMW_DEFAULTS), new AdamW(ADAMW_DEFAULTS), {
    arcface,
    clipNorm: 1,
    microBatch,
  });
}

/** A generator whose uniforms are the given values, in order (for dropout masks drawn elsewhere). */
function replaying(values: Float32Array): Random {
  let next = 0;
  const random = new Random(0);
  random.uniform = () => {
    assert.ok(next < values.length, 'more uniforms drawn than the reference drew');
    return values[next++];
  };
  return random;
}

test(
  'a training step reproduces the PyTorch reference: loss, every neck and head gradient, W’s, BatchNorm statistics',
  { timeout: TIMEOUT },
  async () => {
    const file = await readSafetensors(`${FIXTURES}train_step_c32.safetensors`);
    const t = file.tensors;
    const model = await loadCheckpoint(FIXTURE_WEIGHTS);
    const neckHead = new NeckHead(model.config, model.weights);
    const arcface = {
      classes: Number(file.metadata.classes),
      subCenters: Number(file.metadata.sub_centers),
      marginDegrees: Number(file.metadata.margin_deg),
      scale: Number(file.metadata.scale),
    };
    // Micro-batches of 4 over a batch of 6: the split runs too.
    const step = await makeStep(neckHead, 4, arcface, t.get('W')!);
    const x = [0, 1, 2, 3].map((i) => t.get(`features.${i}`)!) as HostPyramid;
    const labels = Array.from(t.get('labels')!.data);
    const g = await step.gradients(x, labels, replaying(t.get('dropout_uniforms')!.data));
    const expectedLoss = t.get('loss')!.data[0];
    assert.ok(Math.abs(g.loss - expectedLoss) <= 1e-5 * expectedLoss, `loss ${g.loss} vs ${expectedLoss}`);
    assert.equal(g.model.size, neckHead.variables.size, 'a gradient for every trainable parameter');
    // Within twice the spec's forward tolerance (a gradient runs the graph both ways; the worst here
    // come within 0.85 of it), or three times PyTorch's own float32 error where that is larger. The
    // fusion weights' gradients are sums over whole maps that nearly cancel: float32 loses their
    // second digit (PyTorch's float32 run misses one by 3e-2; here up to 2e-2, depending on the
    // CPU's kernels), so they are held to 1e-1, which a wrong formula (errors of order 1) still fails.
    const fusionWeight = /^neck\.\d+\.p\d_\d_weight$/;
    const tolerance = (name: string) =>
      fusionWeight.test(name) ? 1e-1 : Math.max(2 * PARITY_TOLERANCE, 3 * t.get(`float32_error/${name}`)!.data[0]);
    for (const [name, gradient] of g.model)
      assertClose(fromTrainingLayout(gradient), t.get(`grad/${name}`)!, name, tolerance(name));
    assertClose(g.lossW, t.get('grad/W')!, 'W', tolerance('W'));
    neckHead.updateRunningStats(g.batchStatistics);
    for (const [name, buffer] of neckHead.buffers) assertClose(buffer, t.get(`after/${name}`)!, name);
    await step.close();
  },
);

test('micro-batched gradients equal one pass over the whole batch', { timeout: TIMEOUT }, async () => {
  const run = async (microBatch: number) => {
    const step = await makeStep(new NeckHead(CONFIG, perturbedWeights(7)), microBatch);
    const g = await step.gradients(features(8), LABELS, new Random(11));
    await step.close();
    return g;
  };
  const whole = await run(BATCH);
  const split = await run(2);
  assert.ok(Math.abs(whole.loss - split.loss) <= 1e-6 * Math.abs(whole.loss), 'loss');
  for (const [name, gradient] of whole.model) {
    // Sums over whole feature maps in another order: the scalar gates' gradients differ by up to ~1e-4.
    const err = relativeMaxError(split.model.get(name)!.data, gradient.data);
    assert.ok(err <= 1e-3, `${name}: relative error ${err}`);
  }
  assert.ok(relativeMaxError(split.lossW.data, whole.lossW.data) <= 1e-5, 'W');
});

test('neck and head gradients match central finite differences of the loss', { timeout: TIMEOUT }, async () => {
  const model = new NeckHead(CONFIG, perturbedWeights(3));
  const step = await makeStep(model, BATCH);
  const x = features(4);
  // The same dropout masks at every evaluation.
  const gradients = () => step.gradients(x, LABELS, new Random(5));
  const analytic = await gradients();
  const names = [
    'neck.0.p1_down_channel.pwconv1.weight',
    'neck.0.p12_gca_p10.dwconv.weight',
    'neck.0.p22_gca_p12.downsample.weight',
    'neck.1.p31_lca_p40.upsample.weight',
    'neck.1.p21_gca_p20.gc.gamma',
    'neck.1.p32_lca_P31.alpha',
    'neck.1.p2_2_weight',
    'neck.1.p42_lca_p40.norm.weight',
    'head.h2.gem.p',
    'head.h3.bn.weight',
    'head.h1.fc.weight',
    'head.h4.fc_norm.bias',
  ];
  const random = new Random(6);
  const h = 1e-3;
  for (const name of names) {
    const values = model.variables.get(name)!.data;
    const original = values.slice();
    const direction = random.fillNormal(new Float32Array(values.length));
    const at = async (s: number) => {
      for (let i = 0; i < values.length; i++) values[i] = original[i] + s * direction[i];
      return (await gradients()).loss;
    };
    const numeric = ((await at(h)) - (await at(-h))) / (2 * h);
    values.set(original);
    const g = analytic.model.get(name)!.data;
    let projected = 0;
    for (let i = 0; i < g.length; i++) projected += g[i] * direction[i];
    assert.ok(
      Math.abs(numeric - projected) <= 2e-2 * Math.max(1, Math.abs(projected)),
      `${name}: finite difference ${numeric} vs gradient ${projected}`,
    );
  }
  await step.close();
});

test('steps on one batch move the weights and lower the loss', { timeout: TIMEOUT }, async () => {
  const weights = perturbedWeights(12);
  const model = new NeckHead(CONFIG, weights);
  const step = await makeStep(model, 2);
  const random = new Random(13);
  const losses = [];
  for (let i = 0; i < 8; i++) losses.push((await step.run(features(14), LABELS, random, 1e-2, 1e-2)).loss);
  await step.close();
  const start = 'neck.1.p21_gca_p20.pwconv1.weight';
  const moved = relativeMaxError(model.variables.get(start)!.data, toTrainingLayout(weights.get(start)!).data);
  assert.ok(moved > 1e-3, `the optimiser moved the weights (${moved})`);
  assert.ok(losses[7] < losses[0], `the loss fell: ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
});
