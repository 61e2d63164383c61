/**
 * DICOM Part 10 files of a WSI series, read lazily: the header (everything before Pixel Data) from a
 * prefix of the file, then each frame's bytes by positioned reads found through the Extended or Basic
 * Offset Table, or one scan of the fragments' item headers. A WSI instance can be gigabytes; only its
 * header and the frames asked for are ever read.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createInflateRaw, inflateRawSync } from 'node:zlib';
import type { DicomJson, EncodedFrame, FrameSource, WsiInstance } from './instance.js';
import { element, firstValue } from './json-model.js';
import { TransferSyntax } from './transfer-syntax.js';

/** The part of dcmjs this module uses (dcmjs ships no types). */
interface Dcmjs {
  data: {
    ReadBufferStream: new (
      buffer: ArrayBuffer,
      littleEndian: boolean,
      options: { noCopy: boolean },
    ) => {
      offset: number;
    };
    DicomMessage: {
      /**
       * dcmjs's own dataset loop (DicomMessage.readFile calls it after the meta header). Called
       * directly because readFile does not say where it stopped, and the Pixel Data's offset is what
       * the frame index starts from.
       */
      _read(
        stream: unknown,
        syntax: string,
        options: { untilTag?: string; includeUntilTagValue?: boolean; stopOnGreaterTag?: boolean },
      ): DicomJson;
    };
  };
  log: { getLogger(name: string): { setLevel(level: string): void } };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;
// dcmjs logs an error for each VR it has no class for (OV, the Extended Offset Table's), then reads
// it as bytes, which is all that is needed here.
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

const PIXEL_DATA = '7FE00010';
/** First read of a header; four times longer until the header fits (WSI headers with per-frame groups can be MBs). */
const FIRST_READ = 64 * 1024;
/** A header longer than this is not a header: the file is refused rather than read whole. */
const MAX_HEADER = 256 * 2 ** 20;

const ITEM = 0xe000fffe; // (FFFE,E000) read as one little-endian uint32
const SEQUENCE_DELIMITER = 0xe0ddfffe;

/** The header of one Part 10 file, and where its Pixel Data lies. */
export interface Part10Header {
  path: string;
  transferSyntaxUid: string;
  sopClassUid: string | null;
  /** The dataset up to Pixel Data, in the DICOM JSON model. */
  dataset: DicomJson;
  /** The file holding the Pixel Data: `path`, or an inflated copy when the dataset is deflated. */
  pixelFile: string;
  /** Offset in `pixelFile` of Pixel Data's value (the first item of encapsulated data). */
  pixelDataOffset: number;
  /** Length of the value, or null when encapsulated (undefined length). */
  pixelDataLength: number | null;
  /** Size of `pixelFile` in bytes. */
  pixelFileSize: number;
  /** Removes the inflated copy of a deflated file (a no-op otherwise). Idempotent. */
  dispose(): Promise<void>;
}

/** Whether `path` is a Part 10 file: 'DICM' at byte 128, whatever its name. */
export async function isPart10File(path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return false;
  try {
    const magic = Buffer.alloc(4);
    // A folder (or a link to one) opens but cannot be read: not a DICOM file either.
    const { bytesRead } = await handle.read(magic, 0, 4, 128).catch(() => ({ bytesRead: 0 }));
    return bytesRead === 4 && magic.toString('latin1') === 'DICM';
  } finally {
    await handle.close();
  }
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

function arrayBufferOf(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
}

/** What the file meta header says, and where the dataset starts. */
interface Meta {
  transferSyntaxUid: string;
  sopClassUid: string | null;
  metaEnd: number;
}

async function readMeta(handle: FileHandle, path: string, size: number): Promise<Meta> {
  const start = await readAt(handle, 0, Math.min(size, 1024));
  if (start.length < 132 || start.toString('latin1', 128, 132) !== 'DICM')
    throw new Error(`${path}: not a DICOM Part 10 file (no 'DICM' at byte 128)`);
  // (0002,0000) UL: the meta header's length, which dcmjs also requires.
  if (start.length < 144 || start.readUInt32LE(132) !== 0x00000002 || start.toString('latin1', 136, 138) !== 'UL')
    throw new Error(`${path}: the file meta header does not start with its group length (0002,0000)`);
  const metaEnd = 144 + start.readUInt32LE(140);
  const metaBytes = metaEnd <= start.length ? start.subarray(144, metaEnd) : await readAt(handle, 144, metaEnd - 144);
  if (metaBytes.length !== metaEnd - 144) throw new Error(`${path}: truncated in the file meta header`);
  const meta = parseDataset(metaBytes, TransferSyntax.explicitLittle, {}).dataset;
  const transferSyntaxUid = String(firstValue(meta, '00020010') ?? '').trim();
  if (!transferSyntaxUid) throw new Error(`${path}: the file meta header has no Transfer Syntax UID (0002,0010)`);
  if (transferSyntaxUid === TransferSyntax.explicitBig)
    throw new Error(`${path}: explicit VR big endian (retired) is not read`);
  const sopClassUid = String(firstValue(meta, '00020002') ?? '').trim() || null;
  return { transferSyntaxUid, sopClassUid, metaEnd };
}

/** The syntax dcmjs parses a dataset in: implicit, or explicit little endian (encapsulated syntaxes included). */
function datasetSyntax(transferSyntaxUid: string): string {
  return transferSyntaxUid === TransferSyntax.implicitLittle ? transferSyntaxUid : TransferSyntax.explicitLittle;
}

async function openForReading(path: string): Promise<{ handle: FileHandle; size: number }> {
  const handle = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot open (${e.code ?? e.message})`);
  });
  return { handle, size: (await handle.stat()).size };
}

/** Reads the header of a Part 10 file; throws naming the file when it is not one, or is truncated. */
export async function readPart10Header(path: string): Promise<Part10Header> {
  const { handle, size } = await openForReading(path);
  try {
    const { transferSyntaxUid, sopClassUid, metaEnd } = await readMeta(handle, path, size);
    if (transferSyntaxUid === TransferSyntax.deflatedExplicitLittle) {
      const inflated = await inflateDataset(path, metaEnd);
      try {
        return await readDataset(inflated.path, TransferSyntax.explicitLittle, 0, {
          path,
          transferSyntaxUid,
          sopClassUid,
          dispose: inflated.dispose,
        });
      } catch (e) {
        await inflated.dispose();
        throw e;
      }
    }
    return await readDataset(path, datasetSyntax(transferSyntaxUid), metaEnd, {
      path,
      transferSyntaxUid,
      sopClassUid,
      dispose: async () => {},
    });
  } finally {
    await handle.close();
  }
}

/** Which series a Part 10 file belongs to, read from the first few hundred bytes of its dataset. */
export interface Part10Summary {
  path: string;
  transferSyntaxUid: string;
  sopClassUid: string | null;
  seriesInstanceUid: string | null;
}

const SERIES_INSTANCE_UID = '0020000E';

/**
 * The series a file belongs to, without its header's per-frame groups (megabytes in a large sparse
 * slide): enough to list a folder's series. Throws like readPart10Header.
 */
export async function readPart10Summary(path: string): Promise<Part10Summary> {
  const { handle, size } = await openForReading(path);
  try {
    const { transferSyntaxUid, sopClassUid, metaEnd } = await readMeta(handle, path, size);
    const deflated = transferSyntaxUid === TransferSyntax.deflatedExplicitLittle;
    const prefix = async (length: number) => {
      const bytes = await readAt(handle, metaEnd, length);
      const complete = metaEnd + length >= size;
      // A deflated dataset's start inflates on its own: a sync flush gives what the prefix holds.
      return deflated
        ? { bytes: inflateRawSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH }), complete }
        : { bytes, complete };
    };
    const options = { untilTag: SERIES_INSTANCE_UID, includeUntilTagValue: true, stopOnGreaterTag: true };
    for (let length = Math.min(4096, size - metaEnd); ; length = Math.min(4 * length, size - metaEnd)) {
      const { bytes, complete } = await prefix(length);
      let parsed: ParsedDataset | null = null;
      try {
        parsed = parseDataset(
          bytes,
          deflated ? TransferSyntax.explicitLittle : datasetSyntax(transferSyntaxUid),
          options,
        );
      } catch (e) {
        if (complete) throw new Error(`${path}: truncated or malformed header (${(e as Error).message})`, { cause: e });
      }
      // Stopped on the Series Instance UID or a later tag inside the prefix: what comes before it is whole.
      if (parsed && (parsed.offset < bytes.length || element(parsed.dataset, SERIES_INSTANCE_UID) || complete)) {
        const uid = String(firstValue(parsed.dataset, SERIES_INSTANCE_UID) ?? '').trim() || null;
        return { path, transferSyntaxUid, sopClassUid, seriesInstanceUid: uid };
      }
      if (complete) throw new Error(`${path}: truncated or malformed header`);
    }
  } finally {
    await handle.close();
  }
}

interface ParsedDataset {
  dataset: DicomJson;
  /** Where dcmjs stopped in the bytes given. */
  offset: number;
}

function parseDataset(
  bytes: Buffer,
  syntax: string,
  options: { untilTag?: string; includeUntilTagValue?: boolean; stopOnGreaterTag?: boolean },
): ParsedDataset {
  const stream = new dcmjs.data.ReadBufferStream(arrayBufferOf(bytes), true, { noCopy: true });
  const dataset = dcmjs.data.DicomMessage._read(stream, syntax, options);
  return { dataset, offset: stream.offset };
}

/**
 * The dataset of `file` from `start` up to Pixel Data: a prefix is parsed, and a four times longer
 * one when the header does not fit in it (dcmjs throws when it runs out of bytes).
 */
async function readDataset(
  file: string,
  syntax: string,
  start: number,
  described: Pick<Part10Header, 'path' | 'transferSyntaxUid' | 'sopClassUid' | 'dispose'>,
): Promise<Part10Header> {
  const { path } = described;
  const { handle, size } = await openForReading(file);
  try {
    const available = size - start;
    for (let length = Math.min(FIRST_READ, available); ; length = Math.min(4 * length, available)) {
      const bytes = await readAt(handle, start, length);
      let parsed: ParsedDataset | null = null;
      let failure: Error | null = null;
      try {
        parsed = parseDataset(bytes, syntax, { untilTag: PIXEL_DATA, includeUntilTagValue: false });
      } catch (e) {
        failure = e as Error;
      }
      if (parsed && element(parsed.dataset, PIXEL_DATA) !== undefined && parsed.offset <= length) {
        const { dataset } = parsed;
        const tagAt = start + parsed.offset - 4;
        const { offset, length: valueLength } = await pixelDataValue(handle, tagAt, syntax, path);
        delete dataset[PIXEL_DATA];
        return {
          ...described,
          dataset,
          pixelFile: file,
          pixelDataOffset: offset,
          pixelDataLength: valueLength,
          pixelFileSize: size,
        };
      }
      if (length >= available) {
        // dcmjs does not always throw when a value runs past the end: it then stops beyond it.
        if (!parsed || parsed.offset > length)
          throw new Error(
            `${path}: truncated or malformed header (${failure?.message ?? `an element runs past byte ${size}`})`,
          );
        throw new Error(
          `${path}: no Pixel Data (7FE0,0010): the file ends after its header (truncated, or not an image)`,
        );
      }
      if (4 * length > MAX_HEADER) throw new Error(`${path}: header longer than ${MAX_HEADER} bytes: refused`);
    }
  } finally {
    await handle.close();
  }
}

/** Where Pixel Data's value starts, and its length (null when undefined: encapsulated). */
async function pixelDataValue(
  handle: FileHandle,
  tagAt: number,
  syntax: string,
  path: string,
): Promise<{ offset: number; length: number | null }> {
  const head = await readAt(handle, tagAt, 12);
  if (head.length < 12) throw new Error(`${path}: truncated in the Pixel Data element`);
  const implicit = syntax === TransferSyntax.implicitLittle;
  const length = implicit ? head.readUInt32LE(4) : head.readUInt32LE(8);
  return { offset: tagAt + (implicit ? 8 : 12), length: length === 0xffffffff ? null : length };
}

/** Inflates a deflated dataset (raw deflate after the meta header) to a temporary file, streaming. */
async function inflateDataset(path: string, metaEnd: number): Promise<{ path: string; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'histoseek-deflated-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  const out = join(dir, 'dataset');
  try {
    await pipeline(createReadStream(path, { start: metaEnd }), createInflateRaw(), createWriteStream(out));
  } catch (e) {
    await dispose();
    throw new Error(`${path}: cannot inflate the deflated dataset (${(e as Error).message})`, { cause: e });
  }
  return { path: out, dispose };
}

/** Where each frame's bytes lie in the pixel file: [start, end) per frame, item headers included when encapsulated. */
interface FrameIndex {
  starts: Float64Array;
  ends: Float64Array;
  encapsulated: boolean;
}

/** Positioned 8-byte reads through a window, so scanning item headers of small fragments costs few reads. */
class WindowedReader {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  constructor(private readonly handle: FileHandle) {}

  async item(position: number): Promise<{ tag: number; length: number } | null> {
    if (position < this.windowStart || position + 8 > this.windowStart + this.window.length) {
      this.window = await readAt(this.handle, position, 64 * 1024);
      this.windowStart = position;
      if (this.window.length < 8) return null;
    }
    const at = position - this.windowStart;
    return { tag: this.window.readUInt32LE(at), length: this.window.readUInt32LE(at + 4) };
  }
}

/** Fragments from `position` up to the sequence delimiter (or the end of the file): [start, end) of each item. */
async function fragmentsFrom(reader: WindowedReader, position: number, size: number, limit = Infinity) {
  const starts: number[] = [];
  const ends: number[] = [];
  while (position + 8 <= size && starts.length < limit) {
    const item = await reader.item(position);
    if (!item || item.tag === SEQUENCE_DELIMITER) break;
    if (item.tag !== ITEM) throw new Error(`not an item tag at byte ${position}`);
    starts.push(position);
    position += 8 + item.length;
    ends.push(position);
  }
  return { starts, ends };
}

/** The Extended Offset Table (7FE0,0001) with its lengths (7FE0,0002), when present: 64-bit values. */
function extendedOffsetTable(dataset: DicomJson): { offsets: number[]; lengths: number[] } | null {
  const bytes = (tag: string): Uint8Array | null => {
    const el = element(dataset, tag);
    const v = el?.Value?.[0] ?? (el?.InlineBinary ? Buffer.from(el.InlineBinary, 'base64') : undefined);
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    return v instanceof Uint8Array ? v : null;
  };
  const offsets = bytes('7FE00001');
  const lengths = bytes('7FE00002');
  if (!offsets || !lengths) return null;
  const read = (b: Uint8Array) => {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return Array.from({ length: Math.floor(b.byteLength / 8) }, (_, i) => Number(view.getBigUint64(8 * i, true)));
  };
  return { offsets: read(offsets), lengths: read(lengths) };
}

/** Builds the frame index of one instance (once per instance: the scan, if needed, runs once). */
async function buildFrameIndex(handle: FileHandle, header: Part10Header, instance: WsiInstance): Promise<FrameIndex> {
  const frames = instance.numberOfFrames;
  const size = header.pixelFileSize;
  const where = header.path;
  if (header.pixelDataLength !== null) {
    // YBR_FULL_422 keeps two samples per pixel (Cb and Cr shared by pairs of pixels).
    const samples = instance.photometricInterpretation === 'YBR_FULL_422' ? 2 : instance.samplesPerPixel;
    const frameBytes = (instance.tileWidth * instance.tileHeight * samples * instance.bitsAllocated) / 8;
    if (header.pixelDataLength < frames * frameBytes || header.pixelDataOffset + frames * frameBytes > size)
      throw new Error(
        `${where}: truncated: ${frames} frames of ${frameBytes} bytes need ${frames * frameBytes}, the file holds ${Math.min(header.pixelDataLength, size - header.pixelDataOffset)}`,
      );
    const starts = Float64Array.from({ length: frames }, (_, i) => header.pixelDataOffset + i * frameBytes);
    return { starts, ends: starts.map((s) => s + frameBytes), encapsulated: false };
  }
  const reader = new WindowedReader(handle);
  const bot = await reader.item(header.pixelDataOffset);
  if (!bot || bot.tag !== ITEM)
    throw new Error(`${where}: truncated or malformed encapsulated Pixel Data (no Basic Offset Table item)`);
  const base = header.pixelDataOffset + 8 + bot.length;
  let starts: number[];
  let ends: number[];
  const extended = extendedOffsetTable(header.dataset);
  if (extended) {
    if (extended.offsets.length !== frames || extended.lengths.length !== frames)
      throw new Error(
        `${where}: the Extended Offset Table has ${extended.offsets.length} offsets and ${extended.lengths.length} lengths for ${frames} frames`,
      );
    starts = extended.offsets.map((o) => base + o);
    ends = starts.map((s, i) => s + 8 + extended.lengths[i]!);
  } else if (bot.length > 0) {
    const table = await readAt(handle, header.pixelDataOffset + 8, bot.length);
    if (table.length !== bot.length || bot.length !== 4 * frames)
      throw new Error(
        `${where}: the Basic Offset Table has ${Math.floor(bot.length / 4)} offsets for ${frames} frames`,
      );
    starts = Array.from({ length: frames }, (_, i) => base + table.readUInt32LE(4 * i));
    const last = await fragmentsFrom(reader, starts[frames - 1]!, size);
    ends = [...starts.slice(1), last.ends.at(-1) ?? starts[frames - 1]!];
  } else {
    const all = await fragmentsFrom(reader, base, size).catch((e: Error) => {
      throw new Error(`${where}: malformed encapsulated Pixel Data: ${e.message}`);
    });
    if (all.starts.length === frames) ({ starts, ends } = all);
    else if (frames === 1 && all.starts.length > 0) [starts, ends] = [[all.starts[0]!], [all.ends.at(-1)!]];
    else
      throw new Error(
        `${where}: ${all.starts.length} fragments for ${frames} frames and no offset table: cannot tell which fragments form each frame`,
      );
  }
  for (let i = 0; i < frames; i++) {
    if (!(ends[i]! > starts[i]!) || ends[i]! > size)
      throw new Error(
        `${where}: truncated: frame ${i + 1} should lie in bytes ${starts[i]}–${ends[i]}, the file has ${size}`,
      );
  }
  return { starts: Float64Array.from(starts), ends: Float64Array.from(ends), encapsulated: true };
}

/** The fragments' bodies of an encapsulated frame's bytes, joined (no copy when there is one). */
function fragmentBodies(span: Buffer, where: string): Uint8Array {
  const bodies: Buffer[] = [];
  for (let at = 0; at + 8 <= span.length;) {
    if (span.readUInt32LE(at) !== ITEM) throw new Error(`${where}: expected a fragment item`);
    const length = span.readUInt32LE(at + 4);
    bodies.push(span.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  return bodies.length === 1 ? bodies[0]! : Buffer.concat(bodies);
}

interface OpenInstance {
  header: Part10Header;
  handle?: Promise<FileHandle>;
  index?: Promise<FrameIndex>;
}

/** Frames from the Part 10 files of one series: files opened on first read, indexed once each. */
export class FileFrameSource implements FrameSource {
  private readonly instances = new Map<string, OpenInstance>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  /** `headers` by SOP Instance UID: the instances whose frames this source reads; it disposes them on close. */
  constructor(
    readonly where: string,
    headers: ReadonlyMap<string, Part10Header>,
  ) {
    for (const [uid, header] of headers) this.instances.set(uid, { header });
  }

  readFrame(instance: WsiInstance, frame: number): Promise<EncodedFrame> {
    if (this.closed) return Promise.reject(new Error(`${this.where}: slide is closed`));
    const read = this.read(instance, frame);
    this.inFlight.add(read);
    void read.finally(() => this.inFlight.delete(read)).catch(() => {});
    return read;
  }

  private async read(instance: WsiInstance, frame: number): Promise<EncodedFrame> {
    const open_ = this.instances.get(instance.sopInstanceUid);
    if (!open_) throw new Error(`${this.where}: no file for instance ${instance.sopInstanceUid}`);
    if (!Number.isInteger(frame) || frame < 1 || frame > instance.numberOfFrames)
      throw new RangeError(`${open_.header.path}: no frame ${frame} (the instance has ${instance.numberOfFrames})`);
    open_.handle ??= open(open_.header.pixelFile, 'r');
    const handle = await open_.handle;
    open_.index ??= buildFrameIndex(handle, open_.header, instance);
    const index = await open_.index;
    const start = index.starts[frame - 1]!;
    const span = await readAt(handle, start, index.ends[frame - 1]! - start);
    const data = index.encapsulated ? fragmentBodies(span, `${open_.header.path}, frame ${frame}`) : span;
    // A deflated file's pixels were inflated with the rest of its dataset: they are plain little endian now.
    const transferSyntaxUid =
      open_.header.transferSyntaxUid === TransferSyntax.deflatedExplicitLittle
        ? TransferSyntax.explicitLittle
        : open_.header.transferSyntaxUid;
    return { data, transferSyntaxUid };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const pending = [...this.inFlight];
    void Promise.allSettled(pending).then(async () => {
      for (const { header, handle } of this.instances.values()) {
        if (handle) await (await handle.catch(() => null))?.close();
        await header.dispose();
      }
    });
  }
}
