/**
 * The tfjs executor of the model definition: NHWC feature maps, differentiable, used where
 * gradients are needed (training the neck and head, Grad-CAM++). Parameters live in tfjs layouts
 * (convolution kernels HWIO, linear weights [in, out]) so a training step never transposes weights;
 * `toTfjsLayout` / `fromTfjsLayout` convert to and from the checkpoint's PyTorch layouts.
 */
import * as tf from '@tensorflow/tfjs';
import type { HostTensor } from '../model/host-tensor.js';
import type { ConvSpec, Ops } from '../model/ops.js';
import type { Random } from '../util/random.js';

/** PyTorch layout → tfjs layout: OIHW → HWIO, [out, in] → [in, out], others unchanged. */
export function toTfjsLayout(tensor: HostTensor): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.tensor(tensor.data, tensor.shape);
    if (tensor.shape.length === 4) return tf.transpose(t, [2, 3, 1, 0]);
    if (tensor.shape.length === 2) return tf.transpose(t, [1, 0]);
    return t;
  });
}

/** tfjs layout → PyTorch layout (the inverse of `toTfjsLayout`). */
export function fromTfjsLayout(tensor: tf.Tensor): HostTensor {
  const t = tf.tidy(() => {
    if (tensor.rank === 4) return tf.transpose(tensor, [3, 2, 0, 1]);
    if (tensor.rank === 2) return tf.transpose(tensor, [1, 0]);
    return tensor.clone();
  });
  const out = { shape: t.shape.slice(), data: t.dataSync() as Float32Array };
  t.dispose();
  return out;
}

export function weightsToTfjs(weights: Map<string, HostTensor>): Map<string, tf.Tensor> {
  return new Map([...weights].map(([name, w]) => [name, toTfjsLayout(w)]));
}

/**
 * √(Σx²) over `axes`, floored at 1e-12 the way F.normalize floors the norm — but floored before the
 * square root, so an all-zero vector gets a zero gradient (as in PyTorch) instead of 0/0 = NaN.
 */
export function safeNorm(x: tf.Tensor, axes: number | number[], keepDims = true): tf.Tensor {
  return tf.sqrt(tf.maximum(tf.sum(tf.square(x), axes, keepDims), 1e-24));
}

/** BatchNorm batch statistics seen in a training-mode forward pass, by module name. */
export interface BatchStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D; // unbiased, as PyTorch keeps in running_var
}

export interface TfjsOpsOptions {
  /** Training mode: BatchNorm on batch statistics, Dropout active (needs `random`). */
  training?: boolean;
  random?: Random;
}

export class TfjsOps implements Ops<tf.Tensor> {
  readonly batchStats = new Map<string, BatchStats>();
  private readonly training: boolean;

  constructor(
    private readonly params: Map<string, tf.Tensor>,
    private readonly options: TfjsOpsOptions = {},
  ) {
    this.training = options.training ?? false;
    if (this.training && !options.random) throw new Error('training mode needs a seeded random source for dropout');
  }

  private p(name: string): tf.Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`the model has no tensor '${name}'`);
    return t;
  }

  conv(x: tf.Tensor, name: string, s: ConvSpec): tf.Tensor {
    const w = this.p(`${name}.weight`);
    const x4 = x as tf.Tensor4D;
    let y = s.depthwise
      ? tf.depthwiseConv2d(x4, w.reshape([s.kernel, s.kernel, s.outChannels, 1]) as tf.Tensor4D, s.stride, s.pad)
      : tf.conv2d(x4, w as tf.Tensor4D, s.stride, s.pad);
    if (s.bias) y = tf.add(y, this.p(`${name}.bias`));
    return y;
  }

  upsample2x(x: tf.Tensor, name: string): tf.Tensor {
    // Kernel = stride = 2: every input pixel becomes a 2×2 block scaled per channel — a broadcast product.
    const [n, h, w, c] = x.shape;
    const kernel = this.p(`${name}.weight`).reshape([1, 1, 2, 1, 2, c]);
    const blocks = tf.mul(x.reshape([n, h, 1, w, 1, c]), kernel);
    return tf.add(blocks.reshape([n, 2 * h, 2 * w, c]), this.p(`${name}.bias`));
  }

  linear(x: tf.Tensor, name: string, out: number, bias: boolean): tf.Tensor {
    const w = this.p(`${name}.weight`);
    const inChannels = x.shape[x.rank - 1];
    let y = tf.matMul(x.reshape([-1, inChannels]), w.reshape([inChannels, out]));
    if (bias) y = tf.add(y, this.p(`${name}.bias`));
    return y.reshape([...x.shape.slice(0, -1), out]);
  }

  layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    const normalised = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6)));
    return tf.add(tf.mul(normalised, this.p(`${name}.weight`)), this.p(`${name}.bias`));
  }

  grn(x: tf.Tensor, name: string, naming: 'timm' | 'neck'): tf.Tensor {
    const [gain, shift] = naming === 'timm' ? ['weight', 'bias'] : ['gamma', 'beta'];
    const c = x.shape[3]!;
    // Floored at 1e-24 under the root: a channel that is zero everywhere must not give 0/0 gradients.
    const gx = tf.sqrt(tf.maximum(tf.sum(tf.square(x), [1, 2], true), 1e-24));
    const nx = tf.div(gx, tf.add(tf.mean(gx, -1, true), 1e-6));
    const scaled = tf.mul(tf.mul(x, nx), this.p(`${name}.${gain}`).reshape([c]));
    return tf.add(tf.add(scaled, this.p(`${name}.${shift}`).reshape([c])), x);
  }

  gelu(x: tf.Tensor): tf.Tensor {
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  }

  sigmoid(x: tf.Tensor): tf.Tensor {
    return tf.sigmoid(x);
  }

  add(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.add(a, b);
  }

  gate(x: tf.Tensor, s: tf.Tensor, name: string): tf.Tensor {
    const alpha = this.p(name);
    return tf.add(tf.mul(alpha, x), tf.mul(tf.sub(1, alpha), tf.mul(x, s)));
  }

  fuse(terms: tf.Tensor[], name: string): tf.Tensor {
    const w = tf.relu(this.p(name));
    const normalised = tf.div(w, tf.add(tf.sum(w), 1e-4));
    const weighted = terms.map((t, i) => tf.mul(t, normalised.slice([i], [1])));
    return tf.addN(weighted);
  }

  gem(x: tf.Tensor, name: string): tf.Tensor {
    // x^p as exp(p·log x): tf.pow's gradient costs three more pows per element; this costs one exp.
    const p = this.p(name);
    const pooled = tf.mean(tf.exp(tf.mul(tf.log(tf.maximum(x, 1e-6)), p)), [1, 2]);
    return tf.exp(tf.div(tf.log(pooled), p));
  }

  batchNorm(x: tf.Tensor, name: string): tf.Tensor {
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (this.training) {
      ({ mean, variance } = tf.moments(x, 0));
      const n = x.shape[0];
      this.batchStats.set(name, {
        mean: tf.keep(mean.clone()) as tf.Tensor1D,
        variance: tf.keep(tf.mul(variance, n / Math.max(n - 1, 1))) as tf.Tensor1D,
      });
    } else {
      mean = this.p(`${name}.running_mean`);
      variance = this.p(`${name}.running_var`);
    }
    const normalised = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    return tf.add(tf.mul(normalised, this.p(`${name}.weight`)), this.p(`${name}.bias`));
  }

  dropout(x: tf.Tensor, rate: number): tf.Tensor {
    if (!this.training || rate === 0) return x;
    const random = this.options.random!;
    const mask = new Float32Array(x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = random.uniform() < rate ? 0 : 1 / (1 - rate);
    return tf.mul(x, tf.tensor(mask, x.shape));
  }

  l2normalize(x: tf.Tensor): tf.Tensor {
    return tf.div(x, safeNorm(x, -1));
  }

  concat(xs: tf.Tensor[]): tf.Tensor {
    return tf.concat(xs, 1);
  }
}

/** NCHW host tensor → NHWC tfjs tensor. */
export function fromNchw(t: HostTensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** NHWC (or [N, C]) tfjs tensor → NCHW host tensor. */
export function toNchw(t: tf.Tensor): HostTensor {
  const nchw = t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t;
  const out = { shape: nchw.shape.slice(), data: nchw.dataSync() as Float32Array };
  if (nchw !== t) nchw.dispose();
  return out;
}
