/**
 * Tensor values read from a checkpoint file at an offset and decoded to float32, one tensor at a
 * time: a checkpoint of several GB is never held whole, and float32 values are read straight into
 * the array that keeps them (no second copy).
 */
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { decodeHalf } from '../model/safetensors.js';

/** The little-endian dtypes the pathology checkpoints are stored in. */
export type StoredDtype = 'F32' | 'F16' | 'BF16';

export const STORED_DTYPE_BYTES: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Below Node's 2 GiB limit for one read. */
const MAX_READ = 1 << 30;

async function readFully(file: FileHandle, into: Uint8Array, position: number, source: string): Promise<void> {
  for (let done = 0; done < into.length;) {
    const length = Math.min(MAX_READ, into.length - done);
    const { bytesRead } = await file.read(into, done, length, position + done);
    if (bytesRead === 0)
      throw new Error(`${source}: the file ends at byte ${position + done}, inside a tensor (truncated?)`);
    done += bytesRead;
  }
}

/** `count` values of `dtype` from byte `position` of `file`, as float32. */
export async function readStoredValues(
  file: FileHandle,
  position: number,
  count: number,
  dtype: StoredDtype,
  source: string,
): Promise<Float32Array> {
  // Typed arrays take the host's byte order, and the files are little-endian.
  if (endianness() !== 'LE') throw new Error(`${source}: reading checkpoints needs a little-endian machine`);
  if (dtype === 'F32') {
    const out = new Float32Array(count);
    await readFully(file, new Uint8Array(out.buffer), position, source);
    return out;
  }
  const bits = new Uint16Array(count);
  await readFully(file, new Uint8Array(bits.buffer), position, source);
  if (dtype === 'F16') return decodeHalf(bits);
  // bfloat16 is the top half of a float32.
  const out = new Float32Array(count);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) outBits[i] = bits[i] << 16;
  return out;
}
