/**
 * The trainable part of LGFFEM, neck and head, as host tensors in the training layouts: the
 * differentiable graphs read them as inputs, the optimisers update them in place. Backbone features
 * come in as constants (computed once with onnxruntime and cached), so a step never touches the backbone.
 */
import { fromTrainingLayout, toTrainingLayout } from '../engine/training-layout.js';
import type { ModelConfig } from '../model/config.js';
import type { HostTensor } from '../model/host-tensor.js';
import { isTrainable, parameterSpecs } from '../model/params.js';

const BACKBONE_PREFIX = 'backbone.';

/** A BatchNorm's statistics over one batch: the mean and the unbiased variance. */
export interface BatchStatistics {
  mean: Float32Array;
  variance: Float32Array;
}

export class NeckHead {
  /** Trainable neck and head parameters (training layouts). */
  readonly variables = new Map<string, HostTensor>();
  /** BatchNorm running statistics. */
  readonly buffers = new Map<string, HostTensor>();

  constructor(
    readonly config: ModelConfig,
    weights: Map<string, HostTensor>,
  ) {
    for (const [name, spec] of parameterSpecs(config)) {
      if (name.startsWith(BACKBONE_PREFIX)) continue;
      const value = toTrainingLayout(weights.get(name)!);
      (isTrainable(spec) ? this.variables : this.buffers).set(name, value);
    }
  }

  /** Shapes of the parameters and buffers, by name, as the graphs take them. */
  shapes(): Map<string, number[]> {
    return new Map([...this.variables, ...this.buffers].map(([name, t]) => [name, t.shape]));
  }

  /** PyTorch's BatchNorm update: running = (1 − 0.1)·running + 0.1·batch (unbiased variance). */
  updateRunningStats(statistics: Map<string, BatchStatistics>, momentum = 0.1): void {
    for (const [module, batch] of statistics) {
      for (const [key, values] of [
        ['running_mean', batch.mean],
        ['running_var', batch.variance],
      ] as const) {
        const running = this.buffers.get(`${module}.${key}`)!.data;
        for (let i = 0; i < running.length; i++) running[i] = (1 - momentum) * running[i] + momentum * values[i];
      }
    }
  }

  /** The whole model's weights in checkpoint layout: `base`'s backbone, this neck and head. */
  weights(base: Map<string, HostTensor>): Map<string, HostTensor> {
    const weights = new Map(base);
    for (const [name, t] of [...this.variables, ...this.buffers]) weights.set(name, fromTrainingLayout(t));
    return weights;
  }
}
