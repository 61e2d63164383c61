/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
 * an 8-byte little-endian u64 header length N, N bytes of JSON header, then the tensor bytes.
 * Every tensor is decoded to float32, whatever dtype it was stored in.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';
import { elementCount, type HostTensor } from './host-tensor.js';

/** The dtypes this module writes. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

type TensorInput = Map<string, HostTensor> | Record<string, HostTensor>;

const METADATA_KEY = '__metadata__';
/** A larger header is surely corruption, and refusing it avoids decoding a huge string. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const HEADER_ALIGNMENT = 8;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------
// Scalar conversions. They share one scratch word to reinterpret float32 bits.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function float32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0];
}

function float32FromBits(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0];
}

/** Divides `value` by 2^shift, rounding to nearest with ties to even. */
function shiftRoundEven(value: number, shift: number): number {
  const quotient = value >>> shift;
  const remainder = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return remainder > half || (remainder === half && (quotient & 1) === 1) ? quotient + 1 : quotient;
}

/** Rounds `x` to float32, then to IEEE half precision (ties to even); returns the 16 bits. */
export function f32ToF16(x: number): number {
  const bits = float32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    // Keep NaN a NaN (quiet bit set, so a payload that lives only in low bits cannot vanish).
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Half subnormal: the value in units of 2^-24 is the full significand shifted right.
    const shift = 14 - halfExponent;
    // Below half of the smallest subnormal everything rounds to zero (and 32-bit shifts would wrap).
    if (shift > 24) return sign;
    return sign | shiftRoundEven(mantissa | 0x800000, shift);
  }
  // A rounding carry out of the mantissa correctly bumps the exponent, up to infinity.
  return sign | ((halfExponent << 10) + shiftRoundEven(mantissa, 13));
}

/** Decodes the 16 bits of an IEEE half-precision value. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (0x400 + mantissa) * 2 ** (exponent - 25);
}

/** Rounds `x` to float32, then to bfloat16 (ties to even); returns the 16 bits. */
export function f32ToBf16(x: number): number {
  const bits = float32Bits(x);
  // Truncating a NaN could leave a zero mantissa, i.e. infinity: force the quiet bit.
  if (Number.isNaN(x)) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

export function bf16ToF32(h: number): number {
  return float32FromBits((h << 16) >>> 0);
}

/** Half decoding by table: a large F16 checkpoint would otherwise pay the branches per element. */
let f16Table: Float32Array | undefined;
function f16DecodeTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

// ---------------------------------------------------------------------------
// Decoding

type ReadDtype = SafetensorsDtype | 'F64' | 'I64' | 'I32' | 'U8';

const DTYPE_SIZE: Record<ReadDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1 };

/** Half-precision bits of every value of `values` (bulk form of f32ToF16). */
export function encodeHalf(values: Float32Array, out = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]);
  return out;
}

/** Float32 values of half-precision bits (bulk form of f16ToF32, by table). */
export function decodeHalf(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const table = f16DecodeTable();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

function isReadDtype(dtype: string): dtype is ReadDtype {
  return Object.hasOwn(DTYPE_SIZE, dtype);
}

/** Decodes `count` little-endian values of `dtype`; `view` may start at any byte alignment. */
function decodeValues(view: DataView, dtype: ReadDtype, count: number): Float32Array {
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F16': {
      const table = f16DecodeTable();
      for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)];
      break;
    }
    case 'BF16': {
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) outBits[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'U8':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
  }
  return out;
}

function decodeTensorData(bytes: Uint8Array, start: number, dtype: ReadDtype, count: number): Float32Array {
  const byteLength = count * DTYPE_SIZE[dtype];
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) {
    // One memcpy into a fresh (hence aligned) buffer, whatever the source offset. Not bytes.slice():
    // on a Node Buffer that returns a view sharing memory, not a copy.
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(bytes.subarray(start, start + byteLength));
    return out;
  }
  return decodeValues(new DataView(bytes.buffer, bytes.byteOffset + start, byteLength), dtype, count);
}

function fail(source: string, problem: string): never {
  throw new Error(`${source}: ${problem}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Splits the file into its parsed JSON header and the tensor byte buffer. */
function readHeader(bytes: Uint8Array, source: string): { header: Record<string, unknown>; buffer: Uint8Array } {
  if (bytes.length < 8)
    fail(source, `not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(
      source,
      `safetensors header length ${headerLength} is absurd (over ${MAX_HEADER_BYTES} bytes); the file is corrupt`,
    );
  }
  const headerEnd = 8 + Number(headerLength);
  if (headerEnd > bytes.length) {
    fail(
      source,
      `safetensors header length ${headerLength} runs past the end of the ${bytes.length}-byte file (truncated?)`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (err) {
    fail(source, `safetensors header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(header)) fail(source, 'safetensors header is not a JSON object');
  return { header, buffer: bytes.subarray(headerEnd) };
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) fail(source, `${METADATA_KEY} is not an object`);
  const metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') fail(source, `${METADATA_KEY} value for "${key}" is not a string`);
    metadata[key] = v;
  }
  return metadata;
}

function parseTensor(name: string, entry: unknown, buffer: Uint8Array, source: string): HostTensor {
  const where = `tensor "${name}"`;
  if (!isPlainObject(entry)) fail(source, `${where}: header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') fail(source, `${where}: missing or non-string dtype`);
  if (!Array.isArray(shape)) fail(source, `${where}: missing or non-array shape`);
  if (!Array.isArray(offsets) || offsets.length !== 2)
    fail(source, `${where}: data_offsets is not a [begin, end] pair`);
  if (!isReadDtype(dtype)) {
    fail(source, `${where}: unsupported dtype ${dtype} (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`);
  }
  if (!shape.every(isNonNegativeInteger))
    fail(source, `${where}: shape [${shape.join(', ')}] has a negative or non-integer dimension`);
  const [begin, end] = offsets;
  if (!isNonNegativeInteger(begin) || !isNonNegativeInteger(end) || begin > end || end > buffer.length) {
    fail(source, `${where}: data_offsets [${begin}, ${end}] lie outside the ${buffer.length}-byte data buffer`);
  }
  const count = elementCount(shape);
  const expected = count * DTYPE_SIZE[dtype];
  if (end - begin !== expected) {
    fail(
      source,
      `${where}: ${dtype} shape [${shape.join(', ')}] needs ${expected} bytes, data_offsets span ${end - begin}`,
    );
  }
  return { shape: [...shape], data: decodeTensorData(buffer, begin, dtype, count) };
}

/** Parses a safetensors file's bytes; `source` (normally its path) prefixes every error message. */
export function parseSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const { header, buffer } = readHeader(bytes, source);
  const tensors = new Map<string, HostTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name !== METADATA_KEY) tensors.set(name, parseTensor(name, entry, buffer, source));
  }
  return { tensors, metadata: parseMetadata(header[METADATA_KEY], source) };
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read safetensors file: ${(err as Error).message}`, { cause: err });
  }
  return parseSafetensors(bytes, path);
}

// ---------------------------------------------------------------------------
// Encoding

const WRITE_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16'];

function sortedEntries(tensors: TensorInput): [string, HostTensor][] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  // Code-unit order, not locale order: the layout must not depend on the machine writing it.
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function checkTensor(name: string, tensor: HostTensor): void {
  if (name === METADATA_KEY) throw new Error(`safetensors: "${METADATA_KEY}" cannot be a tensor name`);
  if (!tensor.shape.every(isNonNegativeInteger)) {
    throw new Error(
      `safetensors: tensor "${name}" shape [${tensor.shape.join(', ')}] has a negative or non-integer dimension`,
    );
  }
  const count = elementCount(tensor.shape);
  if (tensor.data.length !== count) {
    throw new Error(
      `safetensors: tensor "${name}" of shape [${tensor.shape.join(', ')}] needs ${count} values, has ${tensor.data.length}`,
    );
  }
}

function checkMetadata(metadata: Record<string, string>): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new Error(`safetensors: metadata value for "${key}" is not a string`);
  }
}

/** The header bytes, padded with spaces so the data buffer starts 8-byte aligned. */
function encodeHeader(
  entries: [string, HostTensor][],
  metadata: Record<string, string>,
  dtype: SafetensorsDtype,
): { header: Uint8Array; dataLength: number } {
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) json[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, tensor] of entries) {
    const end = offset + tensor.data.length * DTYPE_SIZE[dtype];
    json[name] = { dtype, shape: tensor.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = new Uint8Array(Math.ceil(text.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT).fill(0x20);
  padded.set(text);
  return { header: padded, dataLength: offset };
}

function encodeValues(data: Float32Array, dtype: SafetensorsDtype, out: Uint8Array): void {
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
      break;
    case 'F16':
      for (let i = 0; i < data.length; i++) view.setUint16(i * 2, f32ToF16(data[i]), true);
      break;
    case 'BF16':
      for (let i = 0; i < data.length; i++) view.setUint16(i * 2, f32ToBf16(data[i]), true);
      break;
  }
}

/** Encodes tensors (sorted by name) in `dtype`, which applies to all of them. */
export function encodeSafetensors(
  tensors: TensorInput,
  metadata: Record<string, string> = {},
  dtype: SafetensorsDtype = 'F32',
): Uint8Array {
  if (!WRITE_DTYPES.includes(dtype))
    throw new Error(`safetensors: cannot write dtype ${String(dtype)} (only ${WRITE_DTYPES.join(', ')})`);
  const entries = sortedEntries(tensors);
  for (const [name, tensor] of entries) checkTensor(name, tensor);
  checkMetadata(metadata);
  const { header, dataLength } = encodeHeader(entries, metadata, dtype);
  const out = new Uint8Array(8 + header.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let offset = 8 + header.length;
  for (const [, tensor] of entries) {
    const byteLength = tensor.data.length * DTYPE_SIZE[dtype];
    encodeValues(tensor.data, dtype, out.subarray(offset, offset + byteLength));
    offset += byteLength;
  }
  return out;
}

/**
 * Writes atomically: readers see either the old file or the complete new one, never a torn write.
 * Encoding happens first, so an invalid tensor leaves the disk untouched.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorInput,
  metadata?: Record<string, string>,
  dtype?: SafetensorsDtype,
): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = encodeSafetensors(tensors, metadata, dtype);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`, { cause: err });
  }
  await writeFileAtomic(path, bytes);
}
