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
