/**
 * The entries of a zip archive as PyTorch's torch.save writes it: every record stored uncompressed
 * (which is what lets a reader take a tensor's bytes straight from the file, at an offset), ZIP64
 * once the archive passes 4 GB. Only the central directory and local headers are read; anything
 * torch.save does not write (compression, encryption, multi-disk archives) is refused.
 */
import type { FileHandle } from 'node:fs/promises';

export interface ZipEntry {
  name: string;
  /** Where the entry's bytes start in the file. */
  offset: number;
  size: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const ZIP64_EXTRA = 0x0001;
const EOCD_SIZE = 22;
/** The end record may be followed by a comment of up to 65 535 bytes. */
const MAX_TAIL = EOCD_SIZE + 0xffff;

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/** Where the central directory lies and how many entries it has (ZIP64's record when the classic one overflows). */
async function centralDirectory(file: FileHandle, fileSize: number, fail: (problem: string) => never) {
  const tailStart = Math.max(0, fileSize - MAX_TAIL);
  const tail = await readAt(file, tailStart, fileSize - tailStart);
  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--)
    if (tail.readUInt32LE(i) === EOCD) {
      at = i;
      break;
    }
  if (at < 0) fail('not a zip archive (no end-of-central-directory record)');
  if (tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0)
    fail('multi-disk zip archives are not supported');
  let count = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locatorAt = tailStart + at - 20;
    const locator = await readAt(file, locatorAt, 20);
    if (locatorAt < 0 || locator.length < 20 || locator.readUInt32LE(0) !== ZIP64_LOCATOR)
      fail('the end record overflows but there is no ZIP64 locator');
    const record = await readAt(file, Number(locator.readBigUInt64LE(8)), 56);
    if (record.length < 56 || record.readUInt32LE(0) !== ZIP64_EOCD) fail('the ZIP64 end record is missing');
    count = Number(record.readBigUInt64LE(32));
    size = Number(record.readBigUInt64LE(40));
    offset = Number(record.readBigUInt64LE(48));
  }
  if (offset + size > fileSize) fail(`the central directory runs past the end of the file (truncated?)`);
  return { count, size, offset };
}

/** ZIP64's extended sizes and offset, present for each classic field that is saturated, in this order. */
function zip64Fields(extra: Buffer, saturated: { size: boolean; compressed: boolean; offset: boolean }) {
  for (let at = 0; at + 4 <= extra.length;) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (id === ZIP64_EXTRA) {
      let field = at + 4;
      const next = (wanted: boolean): number | undefined => {
        if (!wanted || field + 8 > at + 4 + length) return undefined;
        const value = Number(extra.readBigUInt64LE(field));
        field += 8;
        return value;
      };
      return { size: next(saturated.size), compressed: next(saturated.compressed), offset: next(saturated.offset) };
    }
    at += 4 + length;
  }
  return {};
}

/** The archive's entries by name; `source` (the file's path) prefixes every error. */
export async function readZipEntries(
  file: FileHandle,
  fileSize: number,
  source: string,
): Promise<Map<string, ZipEntry>> {
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  const directory = await centralDirectory(file, fileSize, fail);
  const central = await readAt(file, directory.offset, directory.size);
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < directory.count; i++) {
    if (at + 46 > central.length || central.readUInt32LE(at) !== CENTRAL)
      fail(`central directory entry ${i} is corrupt`);
    const flags = central.readUInt16LE(at + 8);
    const method = central.readUInt16LE(at + 10);
    const nameLength = central.readUInt16LE(at + 28);
    const extraLength = central.readUInt16LE(at + 30);
    const commentLength = central.readUInt16LE(at + 32);
    const name = central.toString('utf8', at + 46, at + 46 + nameLength);
    const extra = central.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength);
    let compressed = central.readUInt32LE(at + 20);
    let size = central.readUInt32LE(at + 24);
    let localAt = central.readUInt32LE(at + 42);
    const wide = zip64Fields(extra, {
      size: size === 0xffffffff,
      compressed: compressed === 0xffffffff,
      offset: localAt === 0xffffffff,
    });
    size = wide.size ?? size;
    compressed = wide.compressed ?? compressed;
    localAt = wide.offset ?? localAt;
    if (flags & 1) fail(`entry ${name} is encrypted`);
    if (method !== 0 || compressed !== size)
      fail(`entry ${name} is compressed (method ${method}); torch.save stores entries uncompressed`);
    const local = await readAt(file, localAt, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL) fail(`the local header of entry ${name} is missing`);
    const offset = localAt + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (offset + size > fileSize) fail(`entry ${name} runs past the end of the file (truncated?)`);
    entries.set(name, { name, offset, size });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
