/**
 * safetensors checkpoints of several GB, read from the file tensor by tensor (model/safetensors.ts
 * reads a whole file into memory first, which Node refuses past 2 GiB and which would hold the file
 * beside its decoded copy). F16 and BF16 are decoded to float32.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { elementCount, type HostTensor } from '../model/host-tensor.js';
import { readStoredValues, STORED_DTYPE_BYTES, type StoredDtype } from './stored-values.js';

interface HeaderEntry {
  dtype: StoredDtype;
  shape: number[];
  /** Byte offsets in the file. */
  begin: number;
  end: number;
}

const METADATA_KEY = '__metadata__';
/** A larger header is corruption (the format's own reader draws the same line). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

async function readHeader(file: FileHandle, path: string): Promise<Map<string, HeaderEntry>> {
  const fail = (problem: string): never => {
    throw new Error(`${path}: ${problem}`);
  };
  const fileSize = (await file.stat()).size;
  const lengthBytes = Buffer.alloc(8);
  await file.read(lengthBytes, 0, 8, 0);
  const headerLength = Number(lengthBytes.readBigUInt64LE(0));
  if (fileSize < 8 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > fileSize)
    fail(`not a safetensors file (header length ${headerLength} in a ${fileSize}-byte file)`);
  const headerBytes = Buffer.alloc(headerLength);
  await file.read(headerBytes, 0, headerLength, 8);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    fail(`safetensors header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    return fail('safetensors header is not a JSON object');
  const dataStart = 8 + headerLength;
  const entries = new Map<string, HeaderEntry>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(STORED_DTYPE_BYTES, dtype))
      fail(`tensor ${name}: dtype ${String(dtype)} is not one of ${Object.keys(STORED_DTYPE_BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every(isCount))
      fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of sizes`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1])
      fail(`tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair`);
    const [begin, end] = (offsets as number[]).map((o) => dataStart + o);
    const expected = elementCount(shape as number[]) * STORED_DTYPE_BYTES[dtype as StoredDtype];
    if (end - begin !== expected)
      fail(
        `tensor ${name}: ${String(dtype)} [${(shape as number[]).join(', ')}] needs ${expected} bytes, data_offsets span ${end - begin}`,
      );
    if (end > fileSize) fail(`tensor ${name} runs past the end of the ${fileSize}-byte file (truncated?)`);
    entries.set(name, { dtype: dtype as StoredDtype, shape: shape as number[], begin, end });
  }
  return entries;
}

/** Every tensor of a safetensors file, as float32, reading one tensor at a time. */
export async function readSafetensorsFile(path: string): Promise<Map<string, HostTensor>> {
  const file = await open(path, 'r').catch((err: Error) => {
    throw new Error(`${path}: cannot open: ${err.message}`, { cause: err });
  });
  try {
    const tensors = new Map<string, HostTensor>();
    for (const [name, entry] of await readHeader(file, path)) {
      const data = await readStoredValues(file, entry.begin, elementCount(entry.shape), entry.dtype, path);
      tensors.set(name, { shape: [...entry.shape], data });
    }
    return tensors;
  } finally {
    await file.close();
  }
}

/** The tensor names of a safetensors file, from its header alone (a check that a download is what it claims). */
export async function safetensorsTensorNames(path: string): Promise<string[]> {
  const file = await open(path, 'r');
  try {
    return [...(await readHeader(file, path)).keys()];
  } finally {
    await file.close();
  }
}
