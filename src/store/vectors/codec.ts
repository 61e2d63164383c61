/**
 * How an index stores its unit descriptors: float32, float16, or int8 with one float32 scale per
 * row (the row's largest |component| maps to 127, so every row uses the whole int8 range).
 * A codec turns normalised float32 rows into the bytes of each of its planes (one file per plane)
 * and back, and scores stored rows against a query without decoding a whole chunk first.
 */
import type { VectorKind } from '../types.js';

/** One file of a stored vector column: `vectors.f16`, or `vectors.i8` and its `vectors.i8-scale`. */
export interface Plane {
  suffix: string;
  bytesPerRow: number;
}

export interface VectorCodec {
  readonly kind: VectorKind;
  readonly dim: number;
  readonly planes: readonly Plane[];
  /** The planes' bytes for `rows` rows of `vectors` (rows × dim, unit length). */
  encode(vectors: Float32Array, rows: number): Uint8Array[];
  /** Decodes row `i` of the given plane buffers into `out` (dim floats at `offset`). */
  decodeRow(planes: Uint8Array[], i: number, out: Float32Array, offset: number): void;
  /** The dot product of row `i` with `query`, decoded on the way: the same sum as decodeRow's floats give. */
  dotRow(planes: Uint8Array[], i: number, query: Float32Array): number;
}

// float16 ⇄ float32 through shared bits; a 65 536-entry table decodes, rounding to nearest even encodes.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rounded = (mantissa + half - 1 + ((mantissa >>> shift) & 1)) >>> shift;
    return sign | rounded;
  }
  const rounded = mantissa + 0xfff + ((mantissa >>> 13) & 1);
  if (rounded & 0x800000) return e + 1 >= 0x1f ? sign | 0x7c00 : sign | ((e + 1) << 10);
  return sign | (e << 10) | (rounded >>> 13);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export const HALF_TO_FLOAT = Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));

const view16 = (bytes: Uint8Array) => new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
const view32 = (bytes: Uint8Array) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
const view8 = (bytes: Uint8Array) => new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function f32Codec(dim: number): VectorCodec {
  return {
    kind: 'f32',
    dim,
    planes: [{ suffix: 'f32', bytesPerRow: 4 * dim }],
    encode: (vectors, rows) => [
      new Uint8Array(vectors.buffer.slice(vectors.byteOffset, vectors.byteOffset + rows * dim * 4)),
    ],
    decodeRow(planes, i, out, offset) {
      out.set(view32(planes[0]).subarray(i * dim, (i + 1) * dim), offset);
    },
    dotRow(planes, i, query) {
      const row = view32(planes[0]);
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += row[i * dim + j] * query[j];
      return dot;
    },
  };
}

function f16Codec(dim: number): VectorCodec {
  return {
    kind: 'f16',
    dim,
    planes: [{ suffix: 'f16', bytesPerRow: 2 * dim }],
    encode(vectors, rows) {
      const out = new Uint16Array(rows * dim);
      for (let i = 0; i < out.length; i++) out[i] = toHalf(vectors[i]);
      return [new Uint8Array(out.buffer)];
    },
    decodeRow(planes, i, out, offset) {
      const halves = view16(planes[0]);
      for (let j = 0; j < dim; j++) out[offset + j] = HALF_TO_FLOAT[halves[i * dim + j]];
    },
    dotRow(planes, i, query) {
      const halves = view16(planes[0]);
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += HALF_TO_FLOAT[halves[i * dim + j]] * query[j];
      return dot;
    },
  };
}

function i8Codec(dim: number): VectorCodec {
  return {
    kind: 'i8',
    dim,
    planes: [
      { suffix: 'i8', bytesPerRow: dim },
      { suffix: 'i8-scale', bytesPerRow: 4 },
    ],
    encode(vectors, rows) {
      const codes = new Int8Array(rows * dim);
      const scales = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        let max = 0;
        for (let j = r * dim; j < (r + 1) * dim; j++) max = Math.max(max, Math.abs(vectors[j]));
        const scale = max > 0 ? max / 127 : 1;
        for (let j = r * dim; j < (r + 1) * dim; j++) codes[j] = Math.round(vectors[j] / scale);
        scales[r] = scale;
      }
      return [new Uint8Array(codes.buffer), new Uint8Array(scales.buffer)];
    },
    decodeRow(planes, i, out, offset) {
      const codes = view8(planes[0]);
      const scale = view32(planes[1])[i];
      for (let j = 0; j < dim; j++) out[offset + j] = codes[i * dim + j] * scale;
    },
    dotRow(planes, i, query) {
      const codes = view8(planes[0]);
      const scale = view32(planes[1])[i];
      let dot = 0;
      // Math.fround: the float32 component decodeRow stores.
      for (let j = 0; j < dim; j++) dot += Math.fround(codes[i * dim + j] * scale) * query[j];
      return dot;
    },
  };
}

export function vectorCodec(kind: VectorKind, dim: number): VectorCodec {
  if (kind === 'f32') return f32Codec(dim);
  if (kind === 'f16') return f16Codec(dim);
  return i8Codec(dim);
}
