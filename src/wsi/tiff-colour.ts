/**
 * Whether a TIFF's JPEG tiles can be read in the colours they hold.
 *
 * A JPEG-in-TIFF says its colour space twice: the Photometric tag (RGB or YCbCr) and the JPEG stream's
 * own signalling (a JFIF or Adobe marker, component ids, chroma subsampling), weighed against each other
 * by the rule in jpeg-stream.ts, as for DICOM frames. libtiff, and so both OpenSlide 3.4 and sharp,
 * follows the tag alone: a YCbCr stream tagged RGB comes out with Y, Cb, Cr as R, G, B (measured: pink
 * 170,50,110 reads 93,138,183, glass 235,235,235 reads 235,128,128), and an RGB stream tagged YCbCr is
 * put through the YCbCr transform (145,210,32 and 255,122,255). Bio-Formats, bfconvert and QuPath write
 * such OME-TIFFs.
 *
 * So before a tiled TIFF is opened, its pyramid's IFDs and the header of each level's first tile are
 * read, and one of three verdicts comes back:
 * - as-tagged: no JPEG tiles, or tag and stream agree (or the stream says nothing): OpenSlide or sharp
 *   reads it right.
 * - recode: the stream says outright what it holds and the tag says otherwise: the tiles are decoded
 *   here (JpegTiffSlide), each told its colour space by an Adobe marker.
 * - refuse: the colours cannot be known or decoded faithfully (old-style JPEG, 12-bit, CMYK, CIELab, a
 *   stream contradicting itself, a stream numbered as YCbCr without a marker in a file tagged RGB),
 *   with the reason.
 */
import type { ImageFileDirectory } from 'geotiff';
import {
  decodingColour,
  JpegStreamError,
  parseJpeg,
  streamColour,
  type JpegColour,
  type ParsedJpeg,
} from './jpeg-stream.js';
import { TiffFile, tagNumber, tagNumbers, type TiffDirectory } from './tiff/tiff-file.js';

/** A pyramid level with JPEG tiles (or strips, a strip being a tile as wide as the image), and the colour space they are in. */
export interface JpegTiffLevel {
  name: string;
  ifd: ImageFileDirectory;
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  tiled: boolean;
  tables: ParsedJpeg | null;
  colour: JpegColour;
}

export type TiffColourCheck =
  | { verdict: 'as-tagged' }
  | { verdict: 'refuse'; reason: string }
  | {
      verdict: 'recode';
      file: TiffFile;
      levels: JpegTiffLevel[];
      /** ImageDescription of the first IFD (OME-XML in an OME-TIFF), or null. */
      description: string | null;
      /** What disagreed, for the slide's properties. */
      finding: string;
    };

/** The most of a first tile read to find its header (markers before the first scan are a few KiB). */
const HEADER_BYTES = 256 * 1024;

const PHOTOMETRIC_NAMES: Record<number, string> = {
  3: 'palette',
  4: 'transparency mask',
  5: 'CMYK (separated)',
  8: 'CIELab',
  9: 'ICCLab',
  10: 'ITULab',
  32844: 'LogL',
  32845: 'LogLuv',
};

type LevelCheck =
  | { kind: 'as-tagged' }
  | { kind: 'refuse'; reason: string }
  | { kind: 'jpeg'; level: JpegTiffLevel; finding: string | null };

/**
 * Checks the file at `path` (not a TIFF: as-tagged, after reading 4 bytes). A recode verdict hands over
 * its open TiffFile; the other verdicts leave nothing open.
 */
export async function checkTiffColour(path: string): Promise<TiffColourCheck> {
  const file = await TiffFile.open(path);
  if (!file) return { verdict: 'as-tagged' };
  let handedOver = false;
  try {
    let directories: TiffDirectory[];
    try {
      directories = await pyramidDirectories(file);
    } catch {
      // Directories geotiff cannot parse (a damaged file, or a scanner's variant of TIFF such as NDPI's
      // 64-bit offsets in a classic TIFF) are left to OpenSlide, which reads it or reports the damage.
      return { verdict: 'as-tagged' };
    }
    const checks = await Promise.all(directories.map((d) => checkLevel(file, d)));
    const refused = checks.find((c) => c.kind === 'refuse');
    if (refused) return { verdict: 'refuse', reason: `its colours cannot be decoded faithfully: ${refused.reason}` };
    const findings = checks.flatMap((c) => (c.kind === 'jpeg' && c.finding ? [c.finding] : []));
    if (findings.length === 0) return { verdict: 'as-tagged' };
    const levels = checks.flatMap((c) => (c.kind === 'jpeg' ? [c.level] : []));
    if (levels.length < checks.length)
      return {
        verdict: 'refuse',
        reason: `${findings[0]}, and not every level has readable JPEG tiles, which decoding it here needs`,
      };
    const description = await stringTag(levels[0]!.ifd, 'ImageDescription');
    handedOver = true;
    return { verdict: 'recode', file, levels, description, finding: findings.join('; ') };
  } finally {
    if (!handedOver) await file.close();
  }
}

/**
 * The IFDs a reader takes for the pyramid, when the first one is tiled: the first IFD and its SubIFDs
 * (OME-TIFF), or else the tiled IFDs of the main chain that are ever smaller copies of the first (the
 * rule sharp's reader uses; labels and macro images differ in shape). Files whose first IFD is not
 * tiled are no pyramid of JPEG tiles: none are returned.
 */
async function pyramidDirectories(file: TiffFile): Promise<TiffDirectory[]> {
  const chain = file.chain();
  const first = (await chain.next()).value;
  if (!first || !first.ifd.hasTag('TileWidth')) return [];
  const subs = await file.subIfds(first);
  if (subs.length) return [first, ...subs];
  const levels = [first];
  const size = async ({ ifd }: TiffDirectory) => [
    await tagNumber(ifd, 'ImageWidth'),
    await tagNumber(ifd, 'ImageLength'),
  ];
  const [w0, h0] = await size(first);
  let last = w0!;
  for await (const d of chain) {
    const [w, h] = await size(d);
    const [dx, dy] = [w0! / w!, h0! / h!];
    if (d.ifd.hasTag('TileWidth') && Math.abs(dx - dy) <= 0.02 * dx && w! < last) {
      levels.push(d);
      last = w!;
    }
  }
  return levels;
}

async function stringTag(ifd: ImageFileDirectory, name: 'ImageDescription'): Promise<string | null> {
  if (!ifd.hasTag(name)) return null;
  const v = (await ifd.loadValue(name)) as unknown;
  return typeof v === 'string' ? v : null;
}

async function checkLevel(file: TiffFile, d: TiffDirectory): Promise<LevelCheck> {
  const refuse = (why: string): LevelCheck => ({ kind: 'refuse', reason: `${d.name}: ${why}` });
  const { ifd } = d;
  const compression = await tagNumber(ifd, 'Compression', 1);
  if (compression === 6) return refuse('old-style JPEG (Compression 6), whose colour handling libtiff can only guess');
  if (compression !== 7) return { kind: 'as-tagged' };
  if (!ifd.hasTag('PhotometricInterpretation')) return refuse('JPEG tiles without a Photometric tag');
  const photometric = await tagNumber(ifd, 'PhotometricInterpretation');
  const samples = await tagNumber(ifd, 'SamplesPerPixel', 1);
  const bits = await tagNumbers(ifd, 'BitsPerSample');
  if (bits.length === 0 || bits.some((b) => b !== 8))
    return refuse(`${bits.join(',') || 1}-bit samples (only 8-bit JPEG is read)`);
  if (photometric === 0 || photometric === 1) return { kind: 'as-tagged' }; // greyscale: no colour transform
  if (photometric !== 2 && photometric !== 6)
    return refuse(`Photometric ${photometric} (${PHOTOMETRIC_NAMES[photometric] ?? 'unknown'}) JPEG tiles`);
  const tagged: JpegColour = photometric === 6 ? 'ycbcr' : 'rgb';
  if (samples !== 3) return refuse(`${samples} samples per pixel with Photometric ${tagName(tagged)}`);
  if ((await tagNumber(ifd, 'PlanarConfiguration', 1)) === 2)
    return tagged === 'rgb' ? { kind: 'as-tagged' } : refuse('YCbCr JPEG tiles in separate planes');

  const level = await levelGeometry(d, tagged);
  let tile: ParsedJpeg | null;
  try {
    const tables = await tagNumbers(ifd, 'JPEGTables');
    level.tables = tables.length ? parseJpeg(Uint8Array.from(tables)) : null;
    tile = await firstTile(file, level);
  } catch (e) {
    // Damaged JPEG data is no colour question: the reader reports it, naming the tile, when it reads there.
    if (e instanceof JpegStreamError) return { kind: 'as-tagged' };
    throw e;
  }
  const frame = tile?.header.frame;
  if (!tile || !frame) return { kind: 'as-tagged' }; // no tile stored, or a damaged one: as above
  if (frame.precision !== 8) return refuse(`${frame.precision}-bit JPEG (only 8-bit is read)`);
  if (frame.components.length !== 3)
    return refuse(`${frame.components.length}-component JPEG tiles tagged Photometric ${tagName(tagged)}`);

  const said = streamColour(level.tables ? [level.tables.header, tile.header] : [tile.header], frame);
  const decided = decodingColour(said, tagged, `tagged Photometric ${tagName(tagged)}`);
  if ('refuse' in decided) return refuse(decided.refuse);
  // A YCbCrSubsampling tag that differs from the stream's sampling is no matter: libtiff takes the
  // sampling from the stream (measured: a 4:2:0 stream tagged 1×1 reads exactly in OpenSlide and sharp).
  level.colour = decided.colour;
  const finding =
    level.colour === tagged
      ? null
      : `${d.name} is tagged Photometric ${tagName(tagged)} but its JPEG stream is ${tagName(level.colour)} (${decided.evidence})`;
  return { kind: 'jpeg', level, finding };
}

const tagName = (c: JpegColour) => (c === 'rgb' ? 'RGB' : 'YCbCr');

async function levelGeometry(d: TiffDirectory, colour: JpegColour): Promise<JpegTiffLevel> {
  const { name, ifd } = d;
  const width = await tagNumber(ifd, 'ImageWidth');
  const height = await tagNumber(ifd, 'ImageLength');
  const tiled = ifd.hasTag('TileWidth');
  return {
    name,
    ifd,
    width,
    height,
    tiled,
    tileWidth: tiled ? await tagNumber(ifd, 'TileWidth') : width,
    tileHeight: tiled
      ? await tagNumber(ifd, 'TileLength')
      : Math.min(height, await tagNumber(ifd, 'RowsPerStrip', height)),
    tables: null,
    colour,
  };
}

/** The offsets and byte counts tags of a level's tiles (or strips). */
export const tileTags = (level: JpegTiffLevel) =>
  level.tiled ? (['TileOffsets', 'TileByteCounts'] as const) : (['StripOffsets', 'StripByteCounts'] as const);

/** The header of the level's first stored tile (skipping empty ones), or null if none is stored. */
async function firstTile(file: TiffFile, level: JpegTiffLevel): Promise<ParsedJpeg | null> {
  const [offsetsTag, countsTag] = tileTags(level);
  let index = 0;
  let count = Number(await level.ifd.loadValueIndexed(countsTag, 0));
  if (count === 0) {
    const counts = Array.from((await level.ifd.loadValue(countsTag)) as ArrayLike<number>, Number);
    index = counts.findIndex((c) => c > 0);
    if (index < 0) return null;
    count = counts[index]!;
  }
  const offset = Number(await level.ifd.loadValueIndexed(offsetsTag, index));
  return parseJpeg(await file.readCached(offset, Math.min(count, HEADER_BYTES)));
}
