/**
 * The neck's part of a training step on onnxruntime (`engine/training-graphs.ts`): a forward graph,
 * then a gradient graph that recomputes the forward pass of each micro-batch and runs it backwards,
 * both multithreaded, with the parameters fed in from the model's current values at every forward.
 */
import * as ort from 'onnxruntime-node';
import {
  buildNeckTrainingGraph,
  featureName,
  gradientName,
  neckOutputName,
  outputGradientName,
} from '../engine/training-graphs.js';
import { toHost, toOrt } from '../engine/onnx-parts.js';
import { cpuSessionOptions } from '../engine/ort-options.js';
import type { HostPyramid, HostTensor } from '../model/host-tensor.js';
import type { NeckHead } from './neck-head.js';

const LEVELS = [0, 1, 2, 3];

export class NeckRunner {
  /** The last forward's micro-batches and the parameter values it ran with, for `backward`. */
  private kept: HostPyramid[] = [];
  private params: Record<string, ort.Tensor> = {};

  private constructor(
    private readonly model: NeckHead,
    private readonly forwardSession: ort.InferenceSession,
    private readonly gradientSession: ort.InferenceSession,
  ) {}

  static async create(model: NeckHead, threads = 2): Promise<NeckRunner> {
    const shapes = model.shapes();
    const session = (gradient: boolean) =>
      ort.InferenceSession.create(buildNeckTrainingGraph(model.config, shapes, gradient), cpuSessionOptions(threads));
    return new NeckRunner(model, await session(false), await session(true));
  }

  private featureFeeds(features: HostPyramid): Record<string, ort.Tensor> {
    return Object.fromEntries(features.map((t, level) => [featureName(level), toOrt(t)]));
  }

  /** Neck outputs of each micro-batch of backbone features, with the model's current parameters. */
  async forward(microBatches: HostPyramid[]): Promise<HostPyramid[]> {
    const params: Record<string, ort.Tensor> = {};
    for (const name of this.forwardSession.inputNames) {
      const variable = this.model.variables.get(name);
      if (variable) params[name] = toOrt(variable);
    }
    this.params = params;
    this.kept = microBatches;
    const outputs: HostPyramid[] = [];
    for (const features of microBatches) {
      const out = await this.forwardSession.run({ ...this.featureFeeds(features), ...params });
      outputs.push(LEVELS.map((level) => toHost(out[neckOutputName(level)])) as HostPyramid);
    }
    return outputs;
  }

  /** Neck parameter gradients summed over the last forward's micro-batches, given their output gradients. */
  async backward(dys: HostPyramid[]): Promise<Map<string, HostTensor>> {
    if (dys.length !== this.kept.length)
      throw new Error(`neck runner: ${dys.length} output gradients for ${this.kept.length} micro-batches`);
    const sums = new Map<string, HostTensor>();
    for (const [m, features] of this.kept.entries()) {
      const dyFeeds = Object.fromEntries(dys[m].map((t, level) => [outputGradientName(level), toOrt(t)]));
      const out = await this.gradientSession.run({ ...this.featureFeeds(features), ...dyFeeds, ...this.params });
      for (const name of Object.keys(this.params)) {
        const g = toHost(out[gradientName(name)]);
        const sum = sums.get(name);
        if (!sum) sums.set(name, g);
        else for (let i = 0; i < sum.data.length; i++) sum.data[i] += g.data[i];
      }
    }
    this.kept = [];
    this.params = {};
    return sums;
  }

  async close(): Promise<void> {
    this.kept = [];
    this.params = {};
    await Promise.all([this.forwardSession.release(), this.gradientSession.release()]);
  }
}
