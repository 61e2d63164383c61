/**
 * Parts of the model as onnxruntime sessions, for training: the frozen backbone (its features are
 * cached) and neck + head on cached features (validation embeddings), both in NHWC as tfjs uses.
 */
import * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../model/config.js';
import type { HostPyramid, HostTensor } from '../model/host-tensor.js';
import { backbone, head, neck, type Pyramid } from '../model/lgffem.js';
import { buildOnnxGraph } from './onnx-graph.js';
import { cpuSessionOptions } from './ort-options.js';

const LEVELS = [0, 1, 2, 3];

function toHost(t: ort.Tensor): HostTensor {
  return { shape: t.dims.map(Number), data: t.data as Float32Array };
}

/** The backbone: normalised NCHW images → its four stages, NHWC. */
export class BackboneSession {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(config: ModelConfig, weights: Map<string, HostTensor>, threads = 2): Promise<BackboneSession> {
    const bytes = buildOnnxGraph(
      weights,
      [{ name: 'input', layout: 'NCHW' }],
      (ops, [x]) => new Map(backbone(ops, x, config).map((t, i) => [`stage${i}`, t])),
      'NHWC',
    );
    return new BackboneSession(await ort.InferenceSession.create(bytes, cpuSessionOptions(threads)));
  }

  async run(input: HostTensor): Promise<HostPyramid> {
    const out = await this.session.run({ input: new ort.Tensor('float32', input.data, input.shape) });
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
    const feeds = Object.fromEntries(features.map((t, i) => [`stage${i}`, new ort.Tensor('float32', t.data, t.shape)]));
    return toHost((await this.session.run(feeds)).embedding);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
