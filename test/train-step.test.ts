import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initTfjs } from '../src/engine/tfjs-backend.js';
import { toTfjsLayout } from '../src/engine/tfjs-ops.js';
import { randomModel } from '../src/model/checkpoint.js';
import type { ModelConfig } from '../src/model/config.js';
import type { Pyramid } from '../src/model/lgffem.js';
import { ADAMW_DEFAULTS, AdamW } from '../src/train/adamw.js';
import { NeckHead } from '../src/train/neck-head.js';
import type { HostPyramid } from '../src/model/host-tensor.js';
import { LocalNeckRunner, OrtNeckRunner, type NeckRunner } from '../src/train/neck-runner.js';
import { TrainStep } from '../src/train/step.js';
import { subCenterArcFaceLoss } from '../src/train/subcenter-arcface.js';
import { Random } from '../src/util/random.js';
import { relativeMaxError } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

await initTfjs();

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

const asTensors = (p: HostPyramid) => p.map((t) => tf.tensor(t.data, t.shape)) as Pyramid<tf.Tensor>;

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

function makeStep(model: NeckHead, runner: NeckRunner, microBatch: number): TrainStep {
  const W = tf.variable(
    tf.tensor2d(new Random(9).fillNormal(new Float32Array(4 * CONFIG.neckChannels * 6)), [4 * CONFIG.neckChannels, 6]),
  );
  return new TrainStep(model, runner, W, new AdamW(ADAMW_DEFAULTS), new AdamW(ADAMW_DEFAULTS), {
    arcface: ARCFACE,
    clipNorm: 1,
    microBatch,
  });
}

test('neck and head gradients match central finite differences', { timeout: TIMEOUT }, () => {
  const model = new NeckHead(CONFIG, perturbedWeights(3));
  const x = asTensors(features(4, 2));
  const probe = tf.tensor2d(new Random(5).fillNormal(new Float32Array(2 * 4 * CONFIG.neckChannels)), [
    2,
    4 * CONFIG.neckChannels,
  ]);
  const objective = () => tf.sum(tf.mul(model.head(model.neck(x), false).embedding, probe)) as tf.Scalar;
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
  const vars = names.map((n) => model.variables.get(n)!);
  const { grads } = tf.variableGrads(objective, vars);
  const random = new Random(6);
  const h = 1e-2;
  for (const [i, name] of names.entries()) {
    const v = vars[i];
    const direction = tf.tensor(random.fillNormal(new Float32Array(v.size)), v.shape);
    const original = v.clone();
    const at = (s: number) => {
      v.assign(tf.add(original, tf.mul(direction, s)));
      return tf.tidy(() => objective().dataSync()[0]);
    };
    const numeric = (at(h) - at(-h)) / (2 * h);
    v.assign(original);
    const analytic = tf.sum(tf.mul(grads[v.name], direction)).dataSync()[0];
    assert.ok(
      Math.abs(numeric - analytic) <= 2e-2 * Math.max(1, Math.abs(analytic)),
      `${name}: finite difference ${numeric} vs gradient ${analytic}`,
    );
  }
});

for (const engine of ['tfjs', 'onnxruntime'] as const)
  test(
    `micro-batched gradients (${engine} neck) equal one taped pass over the whole batch`,
    { timeout: TIMEOUT },
    async () => {
      const weights = perturbedWeights(7);
      const model = new NeckHead(CONFIG, weights);
      const runner = engine === 'tfjs' ? new LocalNeckRunner(model) : await OrtNeckRunner.create(model);
      // Sums over whole feature maps in another order: the scalar gates' gradients differ by up to 2e-4 (measured).
      const tolerance = engine === 'tfjs' ? 1e-4 : 1e-3;
      const step = makeStep(model, runner, 2);
      const x = features(8);
      const split = await step.gradients(x, LABELS, new Random(11));

      const vars = [...model.variables.values()];
      const { value, grads } = tf.variableGrads(() => {
        const { embedding } = model.head(model.neck(asTensors(x)), true, new Random(11));
        return subCenterArcFaceLoss(embedding, LABELS, step.lossW as tf.Tensor2D, ARCFACE);
      }, [...vars, step.lossW]);
      assert.ok(Math.abs(value.dataSync()[0] - split.loss) <= 1e-5 * Math.abs(split.loss), 'loss');
      for (const [name, variable] of model.variables) {
        const err = relativeMaxError(split.model.get(name)!.dataSync(), grads[variable.name].dataSync());
        assert.ok(err <= tolerance, `${name}: relative error ${err}`);
      }
      assert.ok(relativeMaxError(split.lossW.dataSync(), grads[step.lossW.name].dataSync()) <= 1e-4, 'W');
      await runner.close();
    },
  );

test(
  'onnxruntime and tfjs necks give the same training steps, without leaking tensors',
  { timeout: TIMEOUT },
  async () => {
    const weights = perturbedWeights(12);
    const run = async (engine: 'onnxruntime' | 'tfjs') => {
      const model = new NeckHead(CONFIG, weights);
      const runner = engine === 'tfjs' ? new LocalNeckRunner(model) : await OrtNeckRunner.create(model);
      const step = makeStep(model, runner, 2);
      const random = new Random(13);
      const losses = [];
      let tensors = 0;
      for (let i = 0; i < 3; i++) {
        losses.push((await step.run(features(14), LABELS, random, 1e-2, 1e-3)).loss);
        if (i === 0) tensors = tf.memory().numTensors;
      }
      assert.equal(tf.memory().numTensors, tensors, 'tensors leaked across steps');
      const final = new Map([...model.variables].map(([n, v]) => [n, v.dataSync().slice()]));
      await runner.close();
      model.dispose();
      step.lossW.dispose();
      return { losses, final };
    };
    const reference = await run('tfjs');
    const fast = await run('onnxruntime');
    const start = 'neck.1.p21_gca_p20.pwconv1.weight';
    const initial = toTfjsLayout(weights.get(start)!);
    const moved = relativeMaxError(reference.final.get(start)!, initial.dataSync());
    initial.dispose();
    assert.ok(moved > 1e-3, `the optimiser moved the weights (${moved})`);
    reference.losses.forEach((l, i) => assert.ok(Math.abs(l - fast.losses[i]) <= 1e-4 * Math.abs(l), `step ${i} loss`));
    for (const [name, values] of reference.final) {
      const err = relativeMaxError(fast.final.get(name)!, values);
      assert.ok(err <= 1e-3, `${name}: relative error ${err}`);
    }
  },
);
