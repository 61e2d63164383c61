/**
 * AdamW with AMSGrad (PyTorch's torch.optim.AdamW semantics) and global grad-norm clipping.
 * Its state is plain host tensors, so a checkpoint can hold it and a resumed run continues exactly.
 */
import * as tf from '@tensorflow/tfjs';
import type { HostTensor } from '../model/host-tensor.js';

export interface AdamWSettings {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  amsgrad: boolean;
}

export const ADAMW_DEFAULTS: AdamWSettings = {
  lr: 1e-3,
  weightDecay: 1e-2,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  amsgrad: true,
};

interface Moments {
  m: tf.Tensor;
  v: tf.Tensor;
  vMax: tf.Tensor;
}

export class AdamW {
  private readonly moments = new Map<string, Moments>();
  step = 0;

  constructor(readonly settings: AdamWSettings) {}

  /** One update of `variables` with `grads` (same names) at learning rate `lr`. */
  apply(variables: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr = this.settings.lr): void {
    this.step += 1;
    const { beta1, beta2, eps, weightDecay, amsgrad } = this.settings;
    const correction1 = 1 - beta1 ** this.step;
    const correction2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    for (const [name, g] of grads) {
      const variable = variables.get(name)!;
      const state = this.moments.get(name) ?? this.freshMoments(variable);
      const next = tf.tidy(() => {
        const m = tf.add(tf.mul(state.m, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(state.v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const vMax = amsgrad ? tf.maximum(state.vMax, v) : v;
        const denom = tf.add(tf.div(tf.sqrt(vMax), correction2Sqrt), eps);
        const decayed = tf.mul(variable, 1 - lr * weightDecay);
        variable.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / correction1)));
        return { m: tf.keep(m), v: tf.keep(v), vMax: tf.keep(amsgrad ? vMax.clone() : tf.zeros([0])) };
      });
      tf.dispose([state.m, state.v, state.vMax]);
      this.moments.set(name, next);
    }
  }

  private freshMoments(variable: tf.Variable): Moments {
    return { m: tf.zerosLike(variable), v: tf.zerosLike(variable), vMax: tf.zerosLike(variable) };
  }

  /** Optimiser state for a checkpoint: `m.<name>`, `v.<name>`, `vmax.<name>` (tfjs layouts). */
  exportState(): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [name, s] of this.moments) {
      for (const [key, t] of [
        ['m', s.m],
        ['v', s.v],
        ['vmax', s.vMax],
      ] as const) {
        out.set(`${key}.${name}`, { shape: t.shape.slice(), data: t.dataSync() as Float32Array });
      }
    }
    return out;
  }

  importState(state: Map<string, HostTensor>, step: number): void {
    this.step = step;
    for (const key of state.keys()) {
      if (!key.startsWith('m.')) continue;
      const name = key.slice(2);
      const load = (k: string) => {
        const h = state.get(`${k}.${name}`);
        if (!h) throw new Error(`optimiser state lacks '${k}.${name}'`);
        return tf.tensor(h.data, h.shape);
      };
      this.moments.set(name, { m: load('m'), v: load('v'), vMax: load('vmax') });
    }
  }

  dispose(): void {
    for (const s of this.moments.values()) tf.dispose([s.m, s.v, s.vMax]);
    this.moments.clear();
  }
}

/** Scales gradients in place so their global L2 norm is at most `maxNorm` (PyTorch's clip_grad_norm_). Returns the norm before clipping. */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))));
  const total = norm.dataSync()[0];
  norm.dispose();
  const factor = maxNorm / (total + 1e-6);
  if (factor < 1) {
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, factor));
      g.dispose();
    }
  }
  return total;
}
