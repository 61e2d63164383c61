/**
 * AdamW with AMSGrad (PyTorch's torch.optim.AdamW semantics) and global grad-norm clipping, on host
 * tensors updated in place. Its state is plain host tensors, so a checkpoint can hold it and a
 * resumed run continues exactly.
 */
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
  m: Float32Array;
  v: Float32Array;
  vMax: Float32Array;
}

export class AdamW {
  private readonly moments = new Map<string, Moments>();
  step = 0;

  constructor(readonly settings: AdamWSettings) {}

  /** One update of `variables` (in place) with `grads` (same names) at learning rate `lr`. */
  apply(variables: Map<string, HostTensor>, grads: Map<string, HostTensor>, lr = this.settings.lr): void {
    this.step += 1;
    const { beta1, beta2, eps, weightDecay, amsgrad } = this.settings;
    const correction1 = 1 - beta1 ** this.step;
    const correction2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    const decay = 1 - lr * weightDecay;
    const stepSize = lr / correction1;
    for (const [name, gradient] of grads) {
      const w = variables.get(name)!.data;
      const g = gradient.data;
      let state = this.moments.get(name);
      if (!state) {
        const n = w.length;
        state = { m: new Float32Array(n), v: new Float32Array(n), vMax: new Float32Array(amsgrad ? n : 0) };
        this.moments.set(name, state);
      }
      const { m, v, vMax } = state;
      for (let i = 0; i < w.length; i++) {
        m[i] = m[i] * beta1 + g[i] * (1 - beta1);
        v[i] = v[i] * beta2 + g[i] * g[i] * (1 - beta2);
        let second = v[i];
        if (amsgrad) second = vMax[i] = Math.max(vMax[i], v[i]);
        w[i] = w[i] * decay - (m[i] / (Math.sqrt(second) / correction2Sqrt + eps)) * stepSize;
      }
    }
  }

  /** Optimiser state for a checkpoint: `m.<name>`, `v.<name>`, `vmax.<name>` (training layouts). */
  exportState(shapes: ReadonlyMap<string, number[]>): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [name, s] of this.moments) {
      const shape = shapes.get(name)!;
      out.set(`m.${name}`, { shape, data: s.m });
      out.set(`v.${name}`, { shape, data: s.v });
      out.set(`vmax.${name}`, { shape: s.vMax.length ? shape : [0], data: s.vMax });
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
        return h.data.slice();
      };
      this.moments.set(name, { m: load('m'), v: load('v'), vMax: load('vmax') });
    }
  }
}

/** Scales gradients in place so their global L2 norm is at most `maxNorm` (PyTorch's clip_grad_norm_). Returns the norm before clipping. */
export function clipGradNorm(grads: Iterable<HostTensor>, maxNorm: number): number {
  const all = [...grads];
  let squares = 0;
  for (const g of all) for (const x of g.data) squares += x * x;
  const total = Math.sqrt(squares);
  const factor = maxNorm / (total + 1e-6);
  if (factor < 1) for (const g of all) for (let i = 0; i < g.data.length; i++) g.data[i] *= factor;
  return total;
}
