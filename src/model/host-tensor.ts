/** A dense float32 tensor in host memory, row-major, in the layout its name says (PyTorch's by default). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function hostTensor(shape: number[], data?: Float32Array): HostTensor {
  const n = elementCount(shape);
  if (data && data.length !== n) {
    throw new Error(`tensor of shape [${shape.join(', ')}] needs ${n} values, got ${data.length}`);
  }
  return { shape, data: data ?? new Float32Array(n) };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Stacks tensors of equal trailing shape along their first axis. */
export function concatFirstAxis(parts: HostTensor[]): HostTensor {
  if (parts.length === 0) throw new Error('nothing to concatenate');
  const tail = parts[0].shape.slice(1);
  const total = parts.reduce((n, p) => n + p.shape[0], 0);
  const data = new Float32Array(total * elementCount(tail));
  let offset = 0;
  for (const p of parts) {
    if (!sameShape(p.shape.slice(1), tail))
      throw new Error(`cannot stack [${p.shape.join(', ')}] onto [${parts[0].shape.join(', ')}]`);
    data.set(p.data, offset);
    offset += p.data.length;
  }
  return { shape: [total, ...tail], data };
}

/** Rows [start, end) along the first axis, sharing memory. */
export function sliceFirstAxis(t: HostTensor, start: number, end: number): HostTensor {
  const row = elementCount(t.shape.slice(1));
  return { shape: [end - start, ...t.shape.slice(1)], data: t.data.subarray(start * row, end * row) };
}

/** The four feature maps of a backbone or neck layer, finest first. */
export type HostPyramid = [HostTensor, HostTensor, HostTensor, HostTensor];
