/**
 * One optimisation step of neck + head (spec §2): forward, Sub-center ArcFace, backward, clip, two
 * AdamWs. The neck — nearly all of the work — runs on a `NeckRunner` (onnxruntime by default), the
 * head and loss on tfjs, and the step computes the exact full-batch gradient in three parts:
 *   1. the neck forward per micro-batch — the neck treats samples independently, so micro-batches
 *      bound memory and change nothing;
 *   2. head + loss on the whole batch in this thread (BatchNorm sees the whole batch), with
 *      gradients for the head, W and the neck outputs;
 *   3. the neck backward per micro-batch, from those output gradients, in the runner.
 */
import * as tf from '@tensorflow/tfjs';
import type { TfjsOps } from '../engine/tfjs-ops.js';
import type { Pyramid } from '../model/lgffem.js';
import type { Random } from '../util/random.js';
import { AdamW, clipGradNorm } from './adamw.js';
import type { NeckHead } from './neck-head.js';
import { sliceFirstAxis, type HostPyramid } from '../model/host-tensor.js';
import { toHost } from './neck-pass.js';
import type { NeckRunner } from './neck-runner.js';
import { subCenterArcFaceLoss, type ArcFaceSettings } from './subcenter-arcface.js';

export interface StepSettings {
  arcface: ArcFaceSettings;
  /** Global grad-norm limit for the model's gradients (spec: 1.0). */
  clipNorm: number;
  /** Samples per neck micro-batch. */
  microBatch: number;
}

export interface Gradients {
  loss: number;
  /** Gradients of the neck and head parameters, by checkpoint name (tfjs layouts). */
  model: Map<string, tf.Tensor>;
  lossW: tf.Tensor;
  ops: TfjsOps;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
}

/** Rows [start, start+size) of every level, sharing memory. */
function sliceHostPyramid(p: HostPyramid, start: number, size: number): HostPyramid {
  return p.map((t) => sliceFirstAxis(t, start, start + size)) as HostPyramid;
}

export class TrainStep {
  constructor(
    readonly model: NeckHead,
    readonly runner: NeckRunner,
    /** The loss's class centres W [4C, classes·K], with their own optimiser. */
    readonly lossW: tf.Variable,
    readonly modelOptimizer: AdamW,
    readonly lossOptimizer: AdamW,
    readonly settings: StepSettings,
  ) {}

  /**
   * Loss and gradients for a batch of backbone features (NHWC) with class labels: the model's
   * parameters by name, and W's. BatchNorm's batch statistics stay in `ops.batchStats`.
   */
  async gradients(features: HostPyramid, labels: number[], random: Random): Promise<Gradients> {
    const n = labels.length;
    const mb = this.settings.microBatch;
    const starts = Array.from({ length: Math.ceil(n / mb) }, (_, i) => i * mb);
    const sizes = starts.map((s) => Math.min(mb, n - s));

    // 1. neck forward
    const outputs = await this.runner.forward(starts.map((s, i) => sliceHostPyramid(features, s, sizes[i])));
    const fused = [0, 1, 2, 3].map((level) =>
      tf.tidy(() =>
        tf.variable(
          tf.concat(
            outputs.map((o) => tf.tensor(o[level].data, o[level].shape)),
            0,
          ),
          true,
        ),
      ),
    );

    // 2. head + loss, gradients for the head, W and the neck outputs
    const headNames = [...this.model.variables.keys()].filter((k) => !k.startsWith('neck.'));
    const headVars = headNames.map((k) => this.model.variables.get(k)!);
    let ops!: TfjsOps;
    const { value, grads } = tf.variableGrads(() => {
      const out = this.model.head(fused as tf.Tensor[] as Pyramid<tf.Tensor>, true, random);
      ops = out.ops;
      return subCenterArcFaceLoss(out.embedding, labels, this.lossW as tf.Tensor2D, this.settings.arcface);
    }, [...headVars, this.lossW, ...fused]);
    const loss = value.dataSync()[0];
    value.dispose();
    const dFused = fused.map((f) => toHost(grads[f.name])) as HostPyramid;
    tf.dispose([...fused, ...fused.map((f) => grads[f.name])]);

    // 3. neck backward
    const neckGrads = await this.runner.backward(starts.map((s, i) => sliceHostPyramid(dFused, s, sizes[i])));
    const model = new Map(headNames.map((k, i) => [k, grads[headVars[i].name]]));
    for (const [name, g] of neckGrads) model.set(name, tf.tensor(g.data, g.shape));
    return { loss, model, lossW: grads[this.lossW.name], ops };
  }

  /** One step: gradients, clipping, both optimisers, BatchNorm running statistics. */
  async run(features: HostPyramid, labels: number[], random: Random, lr: number, lossLr: number): Promise<StepResult> {
    const g = await this.gradients(features, labels, random);
    const gradNorm = clipGradNorm(g.model, this.settings.clipNorm);
    this.modelOptimizer.apply(this.model.variables, g.model, lr);
    this.lossOptimizer.apply(new Map([['W', this.lossW]]), new Map([['W', g.lossW]]), lossLr);
    tf.dispose([...g.model.values(), g.lossW]);
    this.model.updateRunningStats(g.ops);
    return { loss: g.loss, gradNorm };
  }
}
