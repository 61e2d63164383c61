/**
 * The head and Sub-center ArcFace loss of a training step on onnxruntime, over the whole batch
 * (BatchNorm couples its samples): loss, the gradients of the head's parameters, of the class centres
 * W and of the neck outputs, and the BatchNorm batch statistics.
 */
import * as ort from 'onnxruntime-node';
import type { ArcFaceSettings } from '../engine/onnx-arcface.js';
import { toHost, toOrt } from '../engine/onnx-parts.js';
import { cpuSessionOptions } from '../engine/ort-options.js';
import {
  batchMeanName,
  batchVarianceName,
  buildHeadLossGraph,
  CLASS_CENTRES,
  gradientName,
  LOSS,
  neckOutputName,
  ONE_HOT,
  outputGradientName,
  type HeadLossGraph,
} from '../engine/training-graphs.js';
import type { HostPyramid, HostTensor } from '../model/host-tensor.js';
import type { Random } from '../util/random.js';
import type { BatchStatistics, NeckHead } from './neck-head.js';

export interface HeadLossResult {
  loss: number;
  /** Gradients of the head's parameters, by name (training layouts). */
  head: Map<string, HostTensor>;
  /** The gradient of the class centres W. */
  lossW: HostTensor;
  /** The gradients of the neck's four outputs. */
  neckOutputs: HostPyramid;
  batchStatistics: Map<string, BatchStatistics>;
}

export class HeadLossRunner {
  private constructor(
    private readonly model: NeckHead,
    private readonly graph: HeadLossGraph,
    private readonly session: ort.InferenceSession,
    private readonly arcface: ArcFaceSettings,
  ) {}

  static async create(model: NeckHead, arcface: ArcFaceSettings, threads = 2): Promise<HeadLossRunner> {
    const graph = buildHeadLossGraph(model.config, model.shapes(), arcface);
    const session = await ort.InferenceSession.create(graph.model, cpuSessionOptions(threads));
    return new HeadLossRunner(model, graph, session, arcface);
  }

  /**
   * Runs the head in training mode on the neck outputs of a batch with class `labels`; dropout
   * masks are drawn from `random` (mask after mask, row-major).
   */
  async run(neckOutputs: HostPyramid, labels: number[], W: HostTensor, random: Random): Promise<HeadLossResult> {
    const n = labels.length;
    const oneHot = new Float32Array(n * this.arcface.classes);
    labels.forEach((label, i) => (oneHot[i * this.arcface.classes + label] = 1));
    const feeds: Record<string, ort.Tensor> = {
      [ONE_HOT]: toOrt({ shape: [n, this.arcface.classes], data: oneHot }),
      [CLASS_CENTRES]: toOrt(W),
    };
    neckOutputs.forEach((t, level) => (feeds[neckOutputName(level)] = toOrt(t)));
    for (const mask of this.graph.dropoutMasks) {
      const data = new Float32Array(n * mask.channels);
      for (let i = 0; i < data.length; i++) data[i] = random.uniform() < mask.rate ? 0 : 1 / (1 - mask.rate);
      feeds[mask.name] = toOrt({ shape: [n, mask.channels], data });
    }
    for (const name of this.session.inputNames) {
      const t = this.model.variables.get(name) ?? this.model.buffers.get(name);
      if (t) feeds[name] = toOrt(t);
    }
    const out = await this.session.run(feeds);
    const head = new Map<string, HostTensor>();
    for (const name of this.model.variables.keys()) {
      const gradient = out[gradientName(name)];
      if (gradient) head.set(name, toHost(gradient));
    }
    return {
      loss: (out[LOSS].data as Float32Array)[0],
      head,
      lossW: toHost(out[gradientName(CLASS_CENTRES)]),
      neckOutputs: [0, 1, 2, 3].map((level) => toHost(out[outputGradientName(level)])) as HostPyramid,
      batchStatistics: new Map(
        this.graph.batchNorms.map((module) => [
          module,
          {
            mean: out[batchMeanName(module)].data as Float32Array,
            variance: out[batchVarianceName(module)].data as Float32Array,
          },
        ]),
      ),
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
