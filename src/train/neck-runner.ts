/**
 * Where the neck's part of a training step runs: on onnxruntime (`OrtNeckRunner`, the default:
 * multithreaded native kernels) or on tfjs in this thread (`LocalNeckRunner`, the reference: one
 * wasm thread). Both give the same gradients (test/train-step.test.ts).
 */
import * as ort from 'onnxruntime-node';
import {
  buildNeckTrainingGraph,
  featureName,
  gradientName,
  neckOutputName,
  outputGradientName,
} from '../engine/onnx-backprop.js';
import { cpuSessionOptions } from '../engine/ort-options.js';
import type { HostTensor } from '../model/host-tensor.js';
import type { NeckHead } from './neck-head.js';
import type { HostPyramid } from '../model/host-tensor.js';
import { NeckPass } from './neck-pass.js';

export interface NeckRunner {
  /** Neck outputs of each micro-batch of backbone features, with the model's current parameters. */
  forward(microBatches: HostPyramid[]): Promise<HostPyramid[]>;
  /** Neck parameter gradients summed over the last forward's micro-batches, given their output gradients. */
  backward(dys: HostPyramid[]): Promise<Map<string, HostTensor>>;
  close(): Promise<void>;
}

export class LocalNeckRunner implements NeckRunner {
  private readonly pass: NeckPass;

  constructor(model: NeckHead) {
    this.pass = new NeckPass(model);
  }

  async forward(microBatches: HostPyramid[]): Promise<HostPyramid[]> {
    return this.pass.forward(microBatches);
  }

  async backward(dys: HostPyramid[]): Promise<Map<string, HostTensor>> {
    return this.pass.backward(dys);
  }

  async close(): Promise<void> {
    this.pass.release();
  }
}

/**
 * The neck's part of a step on onnxruntime (`engine/onnx-backprop.ts`): a forward graph, then a
 * gradient graph that recomputes the forward pass of each micro-batch and runs it backwards — both
 * multithreaded, with the parameters fed in from the model's variables at every forward.
 */
export class OrtNeckRunner implements NeckRunner {
  /** The last forward's micro-batches and the parameter values it ran with, for `backward`. */
  private kept: HostPyramid[] = [];
  private params: Record<string, ort.Tensor> = {};

  private constructor(
    private readonly model: NeckHead,
    private readonly forwardSession: ort.InferenceSession,
    private readonly gradientSession: ort.InferenceSession,
  ) {}

  static async create(model: NeckHead, threads = 2): Promise<OrtNeckRunner> {
    const shapes = new Map(
      [...model.variables].filter(([name]) => name.startsWith('neck.')).map(([name, v]) => [name, v.shape.slice()]),
    );
    const session = (gradient: boolean) =>
      ort.InferenceSession.create(buildNeckTrainingGraph(model.config, shapes, gradient), cpuSessionOptions(threads));
    return new OrtNeckRunner(model, await session(false), await session(true));
  }

  private featureFeeds(features: HostPyramid): Record<string, ort.Tensor> {
    return Object.fromEntries(
      features.map((t, level) => [featureName(level), new ort.Tensor('float32', t.data, t.shape)]),
    );
  }

  async forward(microBatches: HostPyramid[]): Promise<HostPyramid[]> {
    const params: Record<string, ort.Tensor> = {};
    for (const name of this.forwardSession.inputNames) {
      const variable = this.model.variables.get(name);
      if (variable) params[name] = new ort.Tensor('float32', variable.dataSync() as Float32Array, variable.shape);
    }
    this.params = params;
    this.kept = microBatches;
    const outputs: HostPyramid[] = [];
    for (const features of microBatches) {
      const out = await this.forwardSession.run({ ...this.featureFeeds(features), ...params });
      outputs.push(
        [0, 1, 2, 3].map((level) => {
          const t = out[neckOutputName(level)];
          return { shape: t.dims.map(Number), data: t.data as Float32Array };
        }) as HostPyramid,
      );
    }
    return outputs;
  }

  async backward(dys: HostPyramid[]): Promise<Map<string, HostTensor>> {
    if (dys.length !== this.kept.length)
      throw new Error(`neck runner: ${dys.length} output gradients for ${this.kept.length} micro-batches`);
    const sums = new Map<string, HostTensor>();
    for (const [m, features] of this.kept.entries()) {
      const dyFeeds = Object.fromEntries(
        dys[m].map((t, level) => [outputGradientName(level), new ort.Tensor('float32', t.data, t.shape)]),
      );
      const out = await this.gradientSession.run({ ...this.featureFeeds(features), ...dyFeeds, ...this.params });
      for (const name of Object.keys(this.params)) {
        const g = out[gradientName(name)];
        const sum = sums.get(name);
        if (!sum) sums.set(name, { shape: g.dims.map(Number), data: g.data as Float32Array });
        else for (let i = 0; i < sum.data.length; i++) sum.data[i] += (g.data as Float32Array)[i];
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
