/**
 * A TIFF or BigTIFF file's image file directories, read with geotiff (a maintained TIFF parser that
 * loads tag values lazily: a level's tile-offset array is fetched only when a tile of it is read, and
 * one entry of it can be fetched alone). The file is read through 64 KiB blocks kept while they are
 * reused, so looking at a pyramid's IFDs usually costs one or two reads.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { GeoTIFF, type ImageFileDirectory } from 'geotiff';

const BLOCK = 64 * 1024;
/** Blocks kept (4 MiB): the IFDs and the tile-offset arrays of a pyramid, not its tiles. */
const MAX_BLOCKS = 64;
/** IFDs followed along a chain or a SubIFDs list before the file is taken for corrupt (a loop). */
const MAX_IFDS = 1000;

/** geotiff's source interface: byte ranges of the file, as ArrayBuffers. */
class BlockSource {
  private readonly blocks = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
  ) {}

  async fetch(slices: { offset: number; length: number }[]): Promise<ArrayBuffer[]> {
    return Promise.all(slices.map(({ offset, length }) => this.read(offset, length)));
  }

  /** `length` bytes at `offset` (fewer at the end of the file). */
  async read(offset: number, length: number): Promise<ArrayBuffer> {
    const end = Math.min(this.fileSize, offset + length);
    const out = new Uint8Array(Math.max(0, end - offset));
    if (out.length > BLOCK) {
      await this.handle.read(out, 0, out.length, offset); // large arrays are read once, not kept
      return out.buffer;
    }
    for (let b = Math.floor(offset / BLOCK); b * BLOCK < end; b++) {
      const block = await this.block(b);
      const from = Math.max(offset, b * BLOCK);
      const to = Math.min(end, (b + 1) * BLOCK);
      out.set(block.subarray(from - b * BLOCK, to - b * BLOCK), from - offset);
    }
    return out.buffer;
  }

  private block(b: number): Promise<Uint8Array> {
    let block = this.blocks.get(b);
    if (block) {
      this.blocks.delete(b); // most recently used last
    } else {
      const length = Math.min(BLOCK, this.fileSize - b * BLOCK);
      block = this.handle.read(new Uint8Array(length), 0, length, b * BLOCK).then((r) => r.buffer);
      if (this.blocks.size >= MAX_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    }
    this.blocks.set(b, block);
    return block;
  }
}

type TagName = Parameters<ImageFileDirectory['loadValue']>[0];

/** A tag's values as numbers, [] when the IFD lacks it (geotiff gives one value as a number, several as an array). */
export async function tagNumbers(ifd: ImageFileDirectory, tag: TagName): Promise<number[]> {
  if (!ifd.hasTag(tag)) return [];
  const v = (await ifd.loadValue(tag)) as unknown;
  return typeof v === 'number' || typeof v === 'bigint' ? [Number(v)] : Array.from(v as ArrayLike<number>, Number);
}

/** A tag's first value, or `fallback` (its TIFF default) when the IFD lacks it. */
export async function tagNumber(ifd: ImageFileDirectory, tag: TagName, fallback?: number): Promise<number> {
  const value = (await tagNumbers(ifd, tag))[0] ?? fallback;
  if (value === undefined) throw new Error(`no ${String(tag)} tag`);
  return value;
}

/** Where an IFD sits, for messages: 'IFD 2' or 'SubIFD 1 of IFD 0'. */
export interface TiffDirectory {
  name: string;
  ifd: ImageFileDirectory;
}

export class TiffFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly source: BlockSource,
    private readonly tiff: GeoTIFF,
  ) {}

  /** The file as a TIFF, or null when it does not start as one (II*, MM*, II+ or MM+). */
  static async open(path: string): Promise<TiffFile | null> {
    const handle = await open(path, 'r');
    try {
      const source = new BlockSource(handle, (await handle.stat()).size);
      const magic = new Uint8Array(await source.read(0, 4));
      const order = String.fromCharCode(magic[0]!, magic[1]!);
      const version = order === 'II' ? magic[2]! | (magic[3]! << 8) : (magic[2]! << 8) | magic[3]!;
      if ((order !== 'II' && order !== 'MM') || (version !== 42 && version !== 43)) {
        await handle.close();
        return null;
      }
      // geotiff's own file source reads each slice separately; ours shares blocks between them.
      const tiff = await GeoTIFF.fromSource(source as unknown as Parameters<typeof GeoTIFF.fromSource>[0]);
      return new TiffFile(path, handle, source, tiff);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The IFDs of the main chain, in order, each parsed when asked for. */
  async *chain(): AsyncGenerator<TiffDirectory> {
    let index = 0;
    for (let offset = this.tiff.firstIFDOffset; offset !== 0; index++) {
      if (index >= MAX_IFDS) throw new Error(`${this.path}: more than ${MAX_IFDS} IFDs (a loop?)`);
      const ifd = await this.tiff.parser.parseFileDirectoryAt(offset);
      yield { name: `IFD ${index}`, ifd };
      offset = ifd.nextIFDByteOffset;
    }
  }

  /** The IFDs listed in a directory's SubIFDs tag (an OME-TIFF's pyramid), in order. */
  async subIfds(parent: TiffDirectory): Promise<TiffDirectory[]> {
    const offsets = await tagNumbers(parent.ifd, 'SubIFDs');
    if (offsets.length > MAX_IFDS) throw new Error(`${this.path}: ${parent.name} lists ${offsets.length} SubIFDs`);
    return Promise.all(
      offsets.map(async (offset, i) => ({
        name: `SubIFD ${i} of ${parent.name}`,
        ifd: await this.tiff.parser.parseFileDirectoryAt(offset),
      })),
    );
  }

  /** Bytes of the file, e.g. a tile. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const { bytesRead } = await this.handle.read(out, 0, length, offset);
    if (bytesRead < length)
      throw new Error(`${this.path}: ${length} bytes at ${offset} run past the end of the file (${bytesRead} read)`);
    return out;
  }

  /** Bytes read through the block cache: small reads near the IFDs (a tile's header during a check). */
  async readCached(offset: number, length: number): Promise<Uint8Array> {
    return new Uint8Array(await this.source.read(offset, length));
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
