/**
 * Writes tiled JPEG TIFFs whose tags and JPEG streams say what a test chooses, agreeing or not: the
 * Photometric tag (RGB or YCbCr), the streams' colour space and how they signal it, JPEGTables, BigTIFF,
 * and the layout — an OME-TIFF (OME-XML in ImageDescription, the pyramid in SubIFDs, as Bio-Formats,
 * bfconvert and QuPath write it) or a plain pyramidal TIFF (one IFD per level, chained).
 *
 * Tiles are encoded by jpeg-fixtures.ts (sharp): YCbCr with component ids 1, 2, 3 and no marker, as
 * libtiff writes YCbCr tiles, or with the JFIF APP0 segment Java's ImageIO writer (Bio-Formats) puts
 * in; or RGB. Every tile has the same tables, so they can move into JPEGTables.
 */
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { readJpegHeader, type JpegHeader } from '../src/wsi/jpeg-stream.js';
import { encodeJpeg, type JpegOptions } from './jpeg-fixtures.js';

export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** How a tile's JPEG stream is coded and how it says so. */
export type TileStream =
  /** sharp's output: YCbCr, with a JFIF marker added or (signal: 'none', as libtiff writes) without. */
  | { colour: 'ycbcr'; chroma: '4:2:0' | '4:4:4'; signal: 'jfif' | 'none' }
  /** R, G and B coded as they are, said by component ids 'R', 'G', 'B' or by an Adobe marker (transform 0) on ids 1, 2, 3. */
  | { colour: 'rgb'; signal: 'ids' | 'adobe' };

export interface JpegTiffOptions {
  /** The Photometric tag: RGB (2), YCbCr (6) or CIELab (8). */
  photometric: 'rgb' | 'ycbcr' | 'cielab';
  stream: TileStream;
  layout: 'ome' | 'chain';
  tileSize?: number;
  /** Tables in the JPEGTables tag, the tiles abbreviated (default false: each tile carries its tables). */
  jpegTables?: boolean;
  bigTiff?: boolean;
  /** The YCbCrSubsampling tag of a YCbCr file (default: the stream's own sampling). */
  ycbcrSubsampling?: [number, number];
  /** The Compression tag (default 7, new-style JPEG; 6 marks old-style JPEG). */
  compression?: number;
  quality?: number;
}

/** Microns per pixel written in the OME-XML and the resolution tags. */
export const WRITER_MPP = 0.5;

const SHORT = 3;
const LONG = 4;
const RATIONAL = 5;
const ASCII = 2;
const UNDEFINED = 7;
const LONG8 = 16;

type Values = number[] | Uint8Array;
interface Entry {
  tag: number;
  type: number;
  values: Values;
}

/** Writes `image` and its halvings down to one tile as a tiled JPEG TIFF. */
export async function writeJpegTiff(file: string, image: RgbImage, options: JpegTiffOptions): Promise<void> {
  const tileSize = options.tileSize ?? 256;
  const levels = [image];
  while (levels.at(-1)!.width > tileSize || levels.at(-1)!.height > tileSize) levels.push(await halve(levels.at(-1)!));
  const encoded = await Promise.all(levels.map((l) => encodeTiles(l, tileSize, options)));
  let tables: Uint8Array | null = null;
  if (options.jpegTables) {
    const split = encoded.flat().map(splitTables);
    tables = split[0]!.tables;
    if (split.some((s) => !Buffer.from(s.tables).equals(Buffer.from(tables!))))
      throw new Error('tiles do not share their JPEG tables');
    let i = 0;
    for (const level of encoded) for (let t = 0; t < level.length; t++) level[t] = split[i++]!.tile;
  }
  const sampling = ycbcrSampling(encoded[0]![0]!);
  const ifds = levels.map((level, i) => ({
    entries: levelEntries(level, i, tileSize, options, tables, options.ycbcrSubsampling ?? sampling),
    tiles: encoded[i]!,
  }));
  await writeFile(file, serialise(ifds, options));
}

async function halve(l: RgbImage): Promise<RgbImage> {
  const width = Math.max(1, Math.floor(l.width / 2));
  const height = Math.max(1, Math.floor(l.height / 2));
  const rgb = await sharp(l.rgb, { raw: { width: l.width, height: l.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { width, height, rgb };
}

/** The level cut into tiles, row by row, each padded with white to the full tile size and encoded. */
async function encodeTiles(l: RgbImage, size: number, options: JpegTiffOptions): Promise<Uint8Array[]> {
  const jobs: Promise<Uint8Array>[] = [];
  for (let ty = 0; ty < Math.ceil(l.height / size); ty++) {
    for (let tx = 0; tx < Math.ceil(l.width / size); tx++) {
      const tile = new Uint8Array(size * size * 3).fill(255);
      for (let y = 0; y < size && ty * size + y < l.height; y++) {
        const from = ((ty * size + y) * l.width + tx * size) * 3;
        const width = Math.min(size, l.width - tx * size);
        tile.set(l.rgb.subarray(from, from + width * 3), y * size * 3);
      }
      jobs.push(encodeTile({ width: size, height: size, rgb: tile }, options.stream, options.quality ?? 90));
    }
  }
  return Promise.all(jobs);
}

/** One tile as a JPEG stream of the chosen kind. */
export function encodeTile(tile: RgbImage, stream: TileStream, quality: number): Promise<Uint8Array> {
  const options: JpegOptions =
    stream.colour === 'ycbcr'
      ? { colour: 'ycbcr', subsampling: stream.chroma, marker: stream.signal, quality }
      : stream.signal === 'adobe'
        ? { colour: 'rgb', marker: 'adobe', componentIds: [1, 2, 3], quality }
        : { colour: 'rgb', marker: 'none', quality };
  return encodeJpeg(tile.rgb, tile.width, tile.height, options);
}

function dropSegments(data: Uint8Array, h: JpegHeader, drop: (s: JpegHeader['segments'][number]) => boolean) {
  const kept = h.segments.filter((s) => !drop(s)).map((s) => data.subarray(s.start, s.end));
  return Buffer.concat([data.subarray(0, 2), ...kept, data.subarray(h.headerEnd)]);
}

/** A tile's quantisation and Huffman tables as a tables-only stream, and the tile without them. */
function splitTables(tile: Uint8Array): { tables: Uint8Array; tile: Uint8Array } {
  const h = readJpegHeader(tile);
  const isTable = (s: { marker: number }) => s.marker === 0xdb || s.marker === 0xc4;
  const tables = h.segments.filter(isTable).map((s) => tile.subarray(s.start, s.end));
  return {
    tables: Buffer.concat([Uint8Array.of(0xff, 0xd8), ...tables, Uint8Array.of(0xff, 0xd9)]),
    tile: dropSegments(tile, h, isTable),
  };
}

/** The luma sampling factors of a stream, i.e. the YCbCrSubsampling it implies. */
function ycbcrSampling(tile: Uint8Array): [number, number] {
  const c = readJpegHeader(tile).frame!.components[0]!;
  return [c.h, c.v];
}

function omeXml(l: RgbImage): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" Creator="histoseek test writer">' +
    '<Image ID="Image:0" Name="synthetic"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" ' +
    `SizeX="${l.width}" SizeY="${l.height}" SizeC="3" SizeZ="1" SizeT="1" Interleaved="true" ` +
    `PhysicalSizeX="${WRITER_MPP}" PhysicalSizeXUnit="µm" PhysicalSizeY="${WRITER_MPP}" PhysicalSizeYUnit="µm">` +
    '<Channel ID="Channel:0:0" SamplesPerPixel="3"/>' +
    '<TiffData IFD="0" PlaneCount="1"/></Pixels></Image></OME>'
  );
}

function levelEntries(
  l: RgbImage,
  index: number,
  tileSize: number,
  o: JpegTiffOptions,
  tables: Uint8Array | null,
  sampling: [number, number],
): Entry[] {
  const pxPerCm = Math.round(1e4 / WRITER_MPP);
  const entries: Entry[] = [
    { tag: 254, type: LONG, values: [index === 0 ? 0 : 1] },
    { tag: 256, type: LONG, values: [l.width] },
    { tag: 257, type: LONG, values: [l.height] },
    { tag: 258, type: SHORT, values: [8, 8, 8] },
    { tag: 259, type: SHORT, values: [o.compression ?? 7] },
    { tag: 262, type: SHORT, values: [{ rgb: 2, ycbcr: 6, cielab: 8 }[o.photometric]] },
    { tag: 277, type: SHORT, values: [3] },
    { tag: 282, type: RATIONAL, values: [pxPerCm, 1] },
    { tag: 283, type: RATIONAL, values: [pxPerCm, 1] },
    { tag: 284, type: SHORT, values: [1] },
    { tag: 296, type: SHORT, values: [3] },
    { tag: 322, type: LONG, values: [tileSize] },
    { tag: 323, type: LONG, values: [tileSize] },
  ];
  if (index === 0 && o.layout === 'ome') {
    entries.push({ tag: 270, type: ASCII, values: new TextEncoder().encode(omeXml(l) + '\0') });
  }
  if (tables) entries.push({ tag: 347, type: UNDEFINED, values: tables });
  if (o.photometric === 'ycbcr') entries.push({ tag: 530, type: SHORT, values: sampling });
  return entries;
}

interface IfdSpec {
  entries: Entry[];
  tiles: Uint8Array[];
}

/**
 * The file: header, every tile, then the IFDs. An OME-TIFF has level 0 in the main chain and the
 * others in its SubIFDs; a plain pyramid chains all levels.
 */
function serialise(ifds: IfdSpec[], o: JpegTiffOptions): Buffer {
  const big = o.bigTiff ?? false;
  const header = big ? 16 : 8;
  const chunks: Uint8Array[] = [];
  let at = header;
  const tileOffsets = ifds.map((ifd) =>
    ifd.tiles.map((t) => {
      chunks.push(t, new Uint8Array(t.length & 1)); // word-aligned, as TIFF asks of offsets
      const offset = at;
      at += t.length + (t.length & 1);
      return offset;
    }),
  );
  const wordType = big ? LONG8 : LONG;
  const complete = (i: number, links: { sub: number[] }): Entry[] =>
    [
      ...ifds[i]!.entries,
      { tag: 324, type: wordType, values: tileOffsets[i]! },
      { tag: 325, type: wordType, values: ifds[i]!.tiles.map((t) => t.length) },
      ...(links.sub.length ? [{ tag: 330, type: wordType, values: links.sub }] : []),
    ].sort((a, b) => a.tag - b.tag);
  // Sizes first (they do not depend on the pointer values), then the IFDs at their offsets.
  const subCount = (i: number) => (o.layout === 'ome' && i === 0 ? ifds.length - 1 : 0);
  const sizes = ifds.map((_, i) => encodeIfd(complete(i, { sub: Array(subCount(i)).fill(0) }), 0, 0, big).length);
  const offsets: number[] = [];
  for (const size of sizes) {
    offsets.push(at);
    at += size;
  }
  const sub = o.layout === 'ome' ? offsets.slice(1) : [];
  ifds.forEach((_, i) => {
    const next = o.layout === 'chain' && i + 1 < ifds.length ? offsets[i + 1]! : 0;
    chunks.push(encodeIfd(complete(i, { sub: i === 0 ? sub : [] }), offsets[i]!, next, big));
  });
  const head = Buffer.alloc(header);
  head.write('II', 0, 'latin1');
  if (big) {
    head.writeUInt16LE(43, 2);
    head.writeUInt16LE(8, 4);
    head.writeBigUInt64LE(BigInt(offsets[0]!), 8);
  } else {
    head.writeUInt16LE(42, 2);
    head.writeUInt32LE(offsets[0]!, 4);
  }
  return Buffer.concat([head, ...chunks]);
}

const TYPE_SIZE: Record<number, number> = {
  [ASCII]: 1,
  [SHORT]: 2,
  [LONG]: 4,
  [RATIONAL]: 8,
  [UNDEFINED]: 1,
  [LONG8]: 8,
};

/** One IFD at `at`: its entries, the next IFD's offset, then the values too long to sit in an entry. */
function encodeIfd(entries: Entry[], at: number, next: number, big: boolean): Buffer {
  const entrySize = big ? 20 : 12;
  const inline = big ? 8 : 4;
  const fixed = (big ? 8 : 2) + entries.length * entrySize + (big ? 8 : 4);
  const table = Buffer.alloc(fixed);
  const extra: Buffer[] = [];
  let extraAt = at + fixed;
  if (big) table.writeBigUInt64LE(BigInt(entries.length), 0);
  else table.writeUInt16LE(entries.length, 0);
  entries.forEach((e, i) => {
    const p = (big ? 8 : 2) + i * entrySize;
    const count = e.type === RATIONAL ? e.values.length / 2 : e.values.length;
    const data = Buffer.alloc(e.values.length * (e.type === RATIONAL ? 4 : TYPE_SIZE[e.type]!));
    e.values.forEach((v, k) => {
      if (e.type === SHORT) data.writeUInt16LE(v, k * 2);
      else if (e.type === LONG || e.type === RATIONAL) data.writeUInt32LE(v, k * 4);
      else if (e.type === LONG8) data.writeBigUInt64LE(BigInt(v), k * 8);
      else data[k] = v;
    });
    table.writeUInt16LE(e.tag, p);
    table.writeUInt16LE(e.type, p + 2);
    if (big) table.writeBigUInt64LE(BigInt(count), p + 4);
    else table.writeUInt32LE(count, p + 4);
    const valueAt = p + (big ? 12 : 8);
    if (data.length <= inline) data.copy(table, valueAt);
    else {
      if (big) table.writeBigUInt64LE(BigInt(extraAt), valueAt);
      else table.writeUInt32LE(extraAt, valueAt);
      const padded = Buffer.concat([data, Buffer.alloc(data.length & 1)]);
      extra.push(padded);
      extraAt += padded.length;
    }
  });
  if (big) table.writeBigUInt64LE(BigInt(next), fixed - 8);
  else table.writeUInt32LE(next, fixed - 4);
  return Buffer.concat([table, ...extra]);
}
