/**
 * Neck + head on tfjs with gradients: the trainable part of LGFFEM. Backbone features come in as
 * constants (computed once with onnxruntime and cached), so a step never touches the backbone.
 */
import * as tf from '@tensorflow/tfjs';
import { TfjsOps, toTfjsLayout } from '../engine/tfjs-ops.js';
import type { ModelConfig } from '../model/config.js';
import type { HostTensor } from '../model/host-tensor.js';
import { pyramidDims } from '../model/config.js';
import { head, neck, neckLayer, type Pyramid } from '../model/lgffem.js';
import { isTrainable, parameterSpecs } from '../model/params.js';
import type { Random } from '../util/random.js';

const BACKBONE_PREFIX = 'backbone.';

export class NeckHead {
  /** Trainable neck and head parameters (tfjs layouts). */
  readonly variables = new Map<string, tf.Variable>();
  /** BatchNorm running statistics. */
  readonly buffers = new Map<string, tf.Tensor>();

  constructor(
    readonly config: ModelConfig,
    weights: Map<string, HostTensor>,
  ) {
    for (const [name, spec] of parameterSpecs(config)) {
      if (name.startsWith(BACKBONE_PREFIX)) continue;
      const value = toTfjsLayout(weights.get(name)!);
      if (isTrainable(spec)) {
        this.variables.set(name, tf.variable(value, true));
        value.dispose();
      } else {
        this.buffers.set(name, value);
      }
    }
  }

  private params(): Map<string, tf.Tensor> {
    return new Map<string, tf.Tensor>([...this.variables, ...this.buffers]);
  }

  /** Neck outputs for backbone features (NHWC). The neck has no batch coupling: samples are independent. */
  neck(features: Pyramid<tf.Tensor>): Pyramid<tf.Tensor> {
    return neck(new TfjsOps(this.params()), features, this.config);
  }

  /** One neck layer. */
  neckLayer(layer: number, input: Pyramid<tf.Tensor>): Pyramid<tf.Tensor> {
    const inChannels = layer === 0 ? pyramidDims(this.config) : undefined;
    return neckLayer(new TfjsOps(this.params()), input, layer, this.config.neckChannels, inChannels);
  }

  /** Names of the trainable parameters of one neck layer. */
  layerParamNames(layer: number): string[] {
    return [...this.variables.keys()].filter((k) => k.startsWith(`neck.${layer}.`));
  }

  /**
   * Raw descriptors from neck outputs. In training mode BatchNorm uses batch statistics (left in
   * `ops.batchStats`) and dropout draws its masks from `random`.
   */
  head(fused: Pyramid<tf.Tensor>, training: boolean, random?: Random): { embedding: tf.Tensor2D; ops: TfjsOps } {
    const ops = new TfjsOps(this.params(), { training, random });
    return { embedding: head(ops, fused, this.config) as tf.Tensor2D, ops };
  }

  /** PyTorch's BatchNorm update: running = (1 − 0.1)·running + 0.1·batch (unbiased variance). */
  updateRunningStats(ops: TfjsOps, momentum = 0.1): void {
    for (const [name, stats] of ops.batchStats) {
      for (const [key, batch] of [
        ['running_mean', stats.mean],
        ['running_var', stats.variance],
      ] as const) {
        const old = this.buffers.get(`${name}.${key}`)!;
        this.buffers.set(
          `${name}.${key}`,
          tf.tidy(() => tf.add(tf.mul(old, 1 - momentum), tf.mul(batch, momentum))),
        );
        old.dispose();
      }
      tf.dispose([stats.mean, stats.variance]);
    }
    ops.batchStats.clear();
  }

  dispose(): void {
    tf.dispose([...this.variables.values(), ...this.buffers.values()]);
  }
}

export { Random };
