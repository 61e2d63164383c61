/**
 * One optimisation step of neck + head (docs/model.md#training-recipe): forward, Sub-center ArcFace,
 * backward, clip, two AdamWs, all on onnxruntime graphs. The step computes the exact full-batch
 * gradient in three parts:
 *   1. the neck forward per micro-batch — the neck treats samples independently, so micro-batches
 *      bound memory and change nothing;
 *   2. head + loss on the whole batch (BatchNorm sees the whole batch), with gradients for the
 *      head, W and the neck outputs;
 *   3. the neck backward per micro-batch, from those output gradients.
 */
import type { ArcFaceSettings } from '../engine/onnx-arcface.js';
import { concatFirstAxis, sliceFirstAxis, type HostPyramid, type HostTensor } from '../model/host-tensor.js';
import type { Random } from '../util/random.js';
import { AdamW, clipGradNorm } from './adamw.js';
import { HeadLossRunner } from './head-loss-runner.js';
import type { BatchStatistics, NeckHead } from './neck-head.js';
import { NeckRunner } from './neck-runner.js';

export interface StepSettings {
  arcface: ArcFaceSettings;
  /** Global grad-norm limit for the model's gradients (the paper's: 1.0). */
  clipNorm: number;
  /** Samples per neck micro-batch. */
  microBatch: number;
}

export interface Gradients {
  loss: number;
  /** Gradients of the neck and head parameters, by checkpoint name (training layouts). */
  model: Map<string, HostTensor>;
  lossW: HostTensor;
  batchStatistics: Map<string, BatchStatistics>;
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
  private constructor(
    readonly model: NeckHead,
    private readonly neck: NeckRunner,
    private readonly headLoss: HeadLossRunner,
    /** The loss's class centres W [4C, classes·K], with their own optimiser. */
    readonly lossW: HostTensor,
    readonly modelOptimizer: AdamW,
    readonly lossOptimizer: AdamW,
    readonly settings: StepSettings,
  ) {}

  static async create(
    model: NeckHead,
    lossW: HostTensor,
    modelOptimizer: AdamW,
    lossOptimizer: AdamW,
    settings: StepSettings,
    threads = 2,
  ): Promise<TrainStep> {
    const neck = await NeckRunner.create(model, threads);
    try {
      const headLoss = await HeadLossRunner.create(model, settings.arcface, threads);
      return new TrainStep(model, neck, headLoss, lossW, modelOptimizer, lossOptimizer, settings);
    } catch (err) {
      await neck.close();
      throw err;
    }
  }

  /**
   * Loss and gradients for a batch of backbone features (NHWC) with class labels: the model's
   * parameters by name, W's, and the BatchNorm batch statistics.
   */
  async gradients(features: HostPyramid, labels: number[], random: Random): Promise<Gradients> {
    const n = labels.length;
    const mb = this.settings.microBatch;
    const starts = Array.from({ length: Math.ceil(n / mb) }, (_, i) => i * mb);
    const sizes = starts.map((s) => Math.min(mb, n - s));

    const outputs = await this.neck.forward(starts.map((s, i) => sliceHostPyramid(features, s, sizes[i])));
    const fused = [0, 1, 2, 3].map((level) => concatFirstAxis(outputs.map((o) => o[level]))) as HostPyramid;
    const head = await this.headLoss.run(fused, labels, this.lossW, random);
    const neckGrads = await this.neck.backward(starts.map((s, i) => sliceHostPyramid(head.neckOutputs, s, sizes[i])));
    return {
      loss: head.loss,
      model: new Map([...head.head, ...neckGrads]),
      lossW: head.lossW,
      batchStatistics: head.batchStatistics,
    };
  }

  /** One step: gradients, clipping, both optimisers, BatchNorm running statistics. */
  async run(features: HostPyramid, labels: number[], random: Random, lr: number, lossLr: number): Promise<StepResult> {
    const g = await this.gradients(features, labels, random);
    const gradNorm = clipGradNorm(g.model.values(), this.settings.clipNorm);
    this.modelOptimizer.apply(this.model.variables, g.model, lr);
    this.lossOptimizer.apply(new Map([['W', this.lossW]]), new Map([['W', g.lossW]]), lossLr);
    this.model.updateRunningStats(g.batchStatistics);
    return { loss: g.loss, gradNorm };
  }

  async close(): Promise<void> {
    await Promise.all([this.neck.close(), this.headLoss.release()]);
  }
}
