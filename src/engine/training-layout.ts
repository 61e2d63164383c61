/**
 * The layouts parameters take while training (and in training checkpoints' optimiser state):
 * convolution kernels HWIO and linear weights [in, out], which the differentiable graphs read without
 * a transpose per step; the checkpoint keeps PyTorch's OIHW and [out, in].
 */
import { elementCount, type HostTensor } from '../model/host-tensor.js';

/** `t` with its axes permuted: output axis i is input axis perm[i]. */
export function permute(t: HostTensor, perm: readonly number[]): HostTensor {
  const shape = perm.map((axis) => t.shape[axis]);
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; s *= t.shape[i], i--) inStrides[i] = s;
  const strides = perm.map((axis) => inStrides[axis]);
  const data = new Float32Array(elementCount(shape));
  const index = new Array<number>(rank).fill(0);
  for (let out = 0; out < data.length; out++) {
    let source = 0;
    for (let i = 0; i < rank; i++) source += index[i] * strides[i];
    data[out] = t.data[source];
    for (let i = rank - 1; i >= 0 && ++index[i] === shape[i]; i--) index[i] = 0;
  }
  return { shape, data };
}

/** PyTorch layout → training layout: OIHW → HWIO, [out, in] → [in, out]; others copied unchanged. */
export function toTrainingLayout(t: HostTensor): HostTensor {
  if (t.shape.length === 4) return permute(t, [2, 3, 1, 0]);
  if (t.shape.length === 2) return permute(t, [1, 0]);
  return { shape: t.shape.slice(), data: t.data.slice() };
}

/** Training layout → PyTorch layout (the inverse of `toTrainingLayout`). */
export function fromTrainingLayout(t: HostTensor): HostTensor {
  if (t.shape.length === 4) return permute(t, [3, 2, 0, 1]);
  if (t.shape.length === 2) return permute(t, [1, 0]);
  return { shape: t.shape.slice(), data: t.data.slice() };
}
