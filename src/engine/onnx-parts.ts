/**
 * Parts of the model as onnxruntime sessions, for training and explanations: the frozen backbone
 * (its features are cached), neck + head on cached features (validation embeddings), and the
 * neck-node gradients Grad-CAM++ reads. Feature maps are NHWC.
 */
import * as ort from 'onnxruntime-node';
import { BACKBONE_PRESETS, type ModelConfig } from '../model/config.js';
import type { HostPyramid, HostTensor } from '../model/host-tensor.js';
import { backbone, head, neck, type Pyramid } from '../model/lgffem.js';
import { buildOnnxGraph } from './onnx-graph.js';
import { cpuSessionOptions } from './ort-options.js';
import {
  buildNodeGradientGraph,
  DESCRIPTOR,
  featureName,
  gradientName,
  nodeName,
  SCORE,
  TARGET,
} from './training-graphs.js';
import { toTrainingLayout } from './training-layout.js';

const LEVELS = [0, 1, 2, 3];

/** An onnxruntime float tensor as a host tensor (a view of its data). */
export function toHost(t: ort.Tensor): HostTensor {
  return { shape: t.dims.map(Number), data: t.data as Float32Array };
}

/** A host tensor as an onnxruntime float tensor (a view of its data). */
export function toOrt(t: HostTensor): ort.Tensor {
  return new ort.Tensor('float32', t.data, t.shape);
}

/**
 * What a neck is trained over, frozen: normalised NCHW images → four feature maps at strides 4,
 * 8, 16, 32 (NHWC). LGFFEM's own ConvNeXt V2 backbone, or the pyramid of a user's ONNX encoder.
 */
export interface PyramidSource {
  /** Channels of the four maps. */
  readonly channels: readonly number[];
  run(input: HostTensor): Promise<HostPyramid>;
  release(): Promise<void>;
}

/** The backbone: normalised NCHW images → its four stages, NHWC. */
export class BackboneSession implements PyramidSource {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly channels: readonly number[],
  ) {}

  static async create(config: ModelConfig, weights: Map<string, HostTensor>, threads = 2): Promise<BackboneSession> {
    const bytes = buildOnnxGraph(
      weights,
      [{ name: 'input', layout: 'NCHW' }],
      (ops, [x]) => new Map(backbone(ops, x, config).map((t, i) => [`stage${i}`, t])),
      'NHWC',
    );
    const session = await ort.InferenceSession.create(bytes, cpuSessionOptions(threads));
    return new BackboneSession(session, BACKBONE_PRESETS[config.preset].dims);
  }

  async run(input: HostTensor): Promise<HostPyramid> {
    const out = await this.session.run({ input: toOrt(input) });
    return LEVELS.map((i) => toHost(out[`stage${i}`])) as HostPyramid;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Neck + head on backbone features (NHWC) → raw descriptors, eval mode. */
export class NeckHeadSession {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(config: ModelConfig, weights: Map<string, HostTensor>, threads = 2): Promise<NeckHeadSession> {
    const inputs = LEVELS.map((i) => ({ name: `stage${i}`, layout: 'NHWC' as const }));
    const bytes = buildOnnxGraph(
      weights,
      inputs,
      (ops, xs) => new Map([['embedding', head(ops, neck(ops, xs as Pyramid<(typeof xs)[0]>, config), config)]]),
    );
    return new NeckHeadSession(await ort.InferenceSession.create(bytes, cpuSessionOptions(threads)));
  }

  async run(features: HostPyramid): Promise<HostTensor> {
    const feeds = Object.fromEntries(features.map((t, i) => [`stage${i}`, toOrt(t)]));
    return toHost((await this.session.run(feeds)).embedding);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Per image of a batch: its descriptor, y, and each neck node's activation A and gradient ∂y/∂A. */
export interface NodeGradients {
  descriptors: Float32Array[];
  scores: number[];
  /** [layer][node]: NHWC [n, h, w, C]. */
  activations: HostTensor[][];
  gradients: HostTensor[][];
}

/**
 * The gradients of y = cos(descriptor, target) by every neck node's output, for backbone features
 * (NHWC), in eval mode (`buildNodeGradientGraph`).
 */
export class NodeGradientSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly params: Record<string, ort.Tensor>,
    private readonly config: ModelConfig,
  ) {}

  static async create(
    config: ModelConfig,
    weights: Map<string, HostTensor>,
    threads = 2,
  ): Promise<NodeGradientSession> {
    const trainingLayout = new Map(
      [...weights].filter(([name]) => !name.startsWith('backbone.')).map(([name, t]) => [name, toTrainingLayout(t)]),
    );
    const shapes = new Map([...trainingLayout].map(([name, t]) => [name, t.shape]));
    const session = await ort.InferenceSession.create(
      buildNodeGradientGraph(config, shapes),
      cpuSessionOptions(threads),
    );
    const params = Object.fromEntries(
      session.inputNames
        .filter((name) => trainingLayout.has(name))
        .map((name) => [name, toOrt(trainingLayout.get(name)!)]),
    );
    return new NodeGradientSession(session, params, config);
  }

  /** `targets` are unit vectors, one per image. */
  async run(features: HostPyramid, targets: Float32Array[]): Promise<NodeGradients> {
    const n = targets.length;
    const dim = targets[0].length;
    const target = new Float32Array(n * dim);
    targets.forEach((t, i) => target.set(t, i * dim));
    const feeds: Record<string, ort.Tensor> = { ...this.params, [TARGET]: toOrt({ shape: [n, dim], data: target }) };
    features.forEach((t, level) => (feeds[featureName(level)] = toOrt(t)));
    const out = await this.session.run(feeds);
    const descriptors = out[DESCRIPTOR].data as Float32Array;
    const layers = [...Array(this.config.neckLayers).keys()];
    return {
      descriptors: targets.map((_, i) => descriptors.slice(i * dim, (i + 1) * dim)),
      scores: [...(out[SCORE].data as Float32Array)],
      activations: layers.map((l) => LEVELS.map((k) => toHost(out[nodeName(l, k)]))),
      gradients: layers.map((l) => LEVELS.map((k) => toHost(out[gradientName(nodeName(l, k))]))),
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
