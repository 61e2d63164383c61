/**
 * The neck's part of a training step for a set of micro-batches, inside one tfjs instance: a forward
 * pass without a tape that keeps each layer's input, then the backward pass that recomputes one
 * layer at a time under a tape (activation checkpointing), last layer first. The neck treats samples
 * independently (no BatchNorm), so the gradients summed over micro-batches are the whole batch's.
 */
import * as tf from '@tensorflow/tfjs';
import type { HostPyramid, HostTensor } from '../model/host-tensor.js';
import type { Pyramid } from '../model/lgffem.js';
import type { NeckHead } from './neck-head.js';

export function toHost(t: tf.Tensor): HostTensor {
  return { shape: t.shape.slice(), data: t.dataSync() as Float32Array };
}

const toTensors = (p: HostPyramid) => p.map((t) => tf.tensor(t.data, t.shape)) as Pyramid<tf.Tensor>;

/** Gradients of a neck layer's parameters and (when `inputGrad`) of its input, keys `input.0..3`, for upstream `dy`. */
export function layerBackward(
  model: NeckHead,
  layer: number,
  input: Pyramid<tf.Tensor>,
  dy: Pyramid<tf.Tensor>,
  inputGrad: boolean,
): Record<string, tf.Tensor> {
  return tf.tidy(() => {
    const names = model.layerParamNames(layer);
    const vars = names.map((n) => model.variables.get(n)!);
    const inputVars = inputGrad ? input.map((t) => tf.variable(t, true)) : [];
    const x = (inputGrad ? inputVars : input) as Pyramid<tf.Tensor>;
    const loss = () => tf.addN(model.neckLayer(layer, x).map((y, i) => tf.sum(tf.mul(y, dy[i])))) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss, [...vars, ...inputVars]);
    value.dispose();
    const out: Record<string, tf.Tensor> = Object.fromEntries(names.map((n, i) => [n, grads[vars[i].name]]));
    inputVars.forEach((v, i) => {
      out[`input.${i}`] = grads[v.name];
      v.dispose();
    });
    return out;
  });
}

export class NeckPass {
  /** Per micro-batch, the input of every layer (index 0: backbone features). */
  private kept: Pyramid<tf.Tensor>[][] = [];

  constructor(readonly model: NeckHead) {}

  /** Replaces the neck's parameter values (tfjs layouts). */
  setParams(params: Map<string, HostTensor>): void {
    for (const [name, value] of params) {
      const variable = this.model.variables.get(name);
      if (!variable) throw new Error(`neck pass: unknown parameter '${name}'`);
      tf.tidy(() => variable.assign(tf.tensor(value.data, value.shape)));
    }
  }

  /** Neck outputs of each micro-batch; their layer inputs stay for `backward`. */
  forward(microBatches: HostPyramid[]): HostPyramid[] {
    this.release();
    return microBatches.map((features) => {
      const inputs = [toTensors(features)];
      for (let l = 0; l < this.model.config.neckLayers; l++)
        inputs.push(tf.tidy(() => this.model.neckLayer(l, inputs[l])));
      const output = inputs.pop()!;
      this.kept.push(inputs);
      const host = output.map(toHost) as HostPyramid;
      tf.dispose(output);
      return host;
    });
  }

  /** Neck parameter gradients, summed over the micro-batches of the last `forward`, for their output gradients `dys`. */
  backward(dys: HostPyramid[]): Map<string, HostTensor> {
    if (dys.length !== this.kept.length)
      throw new Error(`neck pass: ${dys.length} output gradients for ${this.kept.length} micro-batches`);
    const sums = new Map<string, tf.Tensor>();
    dys.forEach((hostDy, m) => {
      let dy = toTensors(hostDy);
      for (let l = this.model.config.neckLayers - 1; l >= 0; l--) {
        const g = layerBackward(this.model, l, this.kept[m][l], dy, l > 0);
        tf.dispose([...dy, ...this.kept[m][l]]);
        dy = [0, 1, 2, 3].map((i) => g[`input.${i}`]) as Pyramid<tf.Tensor>;
        for (const name of this.model.layerParamNames(l)) {
          const previous = sums.get(name);
          sums.set(name, previous ? tf.add(previous, g[name]) : g[name]);
          if (previous) tf.dispose([previous, g[name]]);
        }
      }
    });
    this.kept = [];
    const out = new Map([...sums].map(([name, t]) => [name, toHost(t)]));
    tf.dispose([...sums.values()]);
    return out;
  }

  /** Drops kept activations (after a failed step). */
  release(): void {
    for (const inputs of this.kept) tf.dispose(inputs.flat());
    this.kept = [];
  }
}
