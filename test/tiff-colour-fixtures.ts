/**
 * The JPEG-in-TIFF colour cases both test tiers write (test/tiff-writer.ts): a stained rectangle on glass,
 * as files whose Photometric tag and JPEG streams agree, disagree, or cannot be decoded faithfully.
 */
import { join } from 'node:path';
import type { Slide } from '../src/wsi/types.js';
import { temporaryFolder } from './helpers.js';
import { writeJpegTiff, type JpegTiffOptions, type RgbImage } from './tiff-writer.js';

export const WIDTH = 1024;
export const HEIGHT = 768;
/** An eosin-like pink, darker and more saturated than the glass, as the tissue mask wants. */
export const STAIN = [170, 50, 110] as const;
const GLASS = [235, 235, 235] as const;
/** The stained rectangle, level-0 pixels: x 256–767, y 192–575. */
const SQUARE = { x0: 256, x1: 768, y0: 192, y1: 576 };

/** Level-0 regions well inside the stain and inside the glass (128 px and more from any edge between them). */
const STAIN_REGION = { x: 384, y: 320, width: 256, height: 128 };
const GLASS_REGION = { x: 0, y: 0, width: 256, height: 128 };
/** The true colours of STAIN_REGION and GLASS_REGION, one after the other, as stainAndGlass reads them. */
export const TRUE_COLOURS = [...STAIN, ...GLASS];
/**
 * What libtiff (OpenSlide, sharp) reads as stain and glass from the streams of the other colour space
 * under each Photometric tag, measured: Y, Cb, Cr taken for R, G, B under RGB; R, G, B put through the
 * YCbCr transform under YCbCr.
 */
export const LIBTIFF_READS = { rgb: [93, 138, 183, 235, 128, 128], ycbcr: [145, 210, 32, 255, 122, 255] };
/** Mean colour error allowed over a flat region, per channel (measured: at most 1, JPEG's rounding, at every level of every case). */
export const TOLERANCE = 2;

export function stainOnGlass(): RgbImage {
  const rgb = new Uint8Array(WIDTH * HEIGHT * 3);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const stained = x >= SQUARE.x0 && x < SQUARE.x1 && y >= SQUARE.y0 && y < SQUARE.y1;
      rgb.set(stained ? STAIN : GLASS, (y * WIDTH + x) * 3);
    }
  }
  return { width: WIDTH, height: HEIGHT, rgb };
}

export interface ColourCase {
  name: string;
  file: string;
  options: JpegTiffOptions;
}

const OME = 'ome' as const;

/** Tag and streams agree: libtiff, so OpenSlide and sharp, read them right. */
export const CONSISTENT: Omit<ColourCase, 'file'>[] = [
  {
    // As libvips (and libtiff) write: YCbCr streams, ids 1, 2, 3, no marker.
    name: 'ycbcr-tagged-ycbcr',
    options: { photometric: 'ycbcr', stream: { colour: 'ycbcr', chroma: '4:2:0', signal: 'none' }, layout: 'chain' },
  },
  {
    name: 'rgb-tagged-rgb',
    options: { photometric: 'rgb', stream: { colour: 'rgb', signal: 'ids' }, layout: OME, jpegTables: true },
  },
];

/** Tag and streams disagree, and the streams say outright what they hold. */
export const MISMATCHED: Omit<ColourCase, 'file'>[] = [
  {
    // Bio-Formats: Java's JPEG writer (JFIF, YCbCr) under Photometric RGB.
    name: 'ycbcr-jfif-tagged-rgb',
    options: {
      photometric: 'rgb',
      stream: { colour: 'ycbcr', chroma: '4:4:4', signal: 'jfif' },
      layout: OME,
      jpegTables: true,
    },
  },
  {
    // Tiles copied as they are (bfconvert -precompressed) from a libtiff YCbCr file into one tagged RGB:
    // no marker, but chroma subsampled.
    name: 'ycbcr-subsampled-tagged-rgb',
    options: { photometric: 'rgb', stream: { colour: 'ycbcr', chroma: '4:2:0', signal: 'none' }, layout: OME },
  },
  {
    name: 'rgb-adobe-tagged-ycbcr',
    options: {
      photometric: 'ycbcr',
      stream: { colour: 'rgb', signal: 'adobe' },
      layout: OME,
      ycbcrSubsampling: [1, 1],
      bigTiff: true,
    },
  },
  {
    name: 'rgb-ids-tagged-ycbcr',
    options: { photometric: 'ycbcr', stream: { colour: 'rgb', signal: 'ids' }, layout: OME, jpegTables: true },
  },
];

/** Files whose colours cannot be known or decoded faithfully, and the reason each is refused with. */
export const REFUSED: (Omit<ColourCase, 'file'> & { reason: RegExp })[] = [
  {
    name: 'ycbcr-unmarked-tagged-rgb',
    options: { photometric: 'rgb', stream: { colour: 'ycbcr', chroma: '4:4:4', signal: 'none' }, layout: OME },
    reason:
      /its colours cannot be decoded faithfully: IFD 0: tagged Photometric RGB, but its JPEG stream numbers its components 1, 2, 3 as YCbCr streams do, with no marker saying which it is/,
  },
  {
    name: 'old-style-jpeg',
    options: {
      photometric: 'ycbcr',
      stream: { colour: 'ycbcr', chroma: '4:2:0', signal: 'jfif' },
      layout: OME,
      compression: 6,
    },
    reason: /IFD 0: old-style JPEG \(Compression 6\)/,
  },
  {
    name: 'cielab',
    options: { photometric: 'cielab', stream: { colour: 'ycbcr', chroma: '4:2:0', signal: 'jfif' }, layout: 'chain' },
    reason: /IFD 0: Photometric 8 \(CIELab\) JPEG tiles/,
  },
];

/** Every case, written into a new temporary folder `dir` (removed when the tests end). */
export async function writeAllCases(prefix: string) {
  const dir = await temporaryFolder(prefix);
  const [consistent, mismatched, refused] = await Promise.all([
    writeCases(dir, CONSISTENT),
    writeCases(dir, MISMATCHED),
    writeCases(dir, REFUSED),
  ]);
  return { dir, consistent, mismatched, refused };
}

/** Writes the cases into `dir` as NAME.ome.tiff / NAME.tiff. */
async function writeCases<T extends Omit<ColourCase, 'file'>>(
  dir: string,
  cases: T[],
): Promise<(T & { file: string })[]> {
  const image = stainOnGlass();
  return Promise.all(
    cases.map(async (c) => {
      const file = join(dir, `${c.name}${c.options.layout === OME ? '.ome' : ''}.tiff`);
      await writeJpegTiff(file, image, c.options);
      return { ...c, file };
    }),
  );
}

/** Mean R, G, B of STAIN_REGION then of GLASS_REGION, read at `level`. */
export async function stainAndGlass(slide: Slide, level: number): Promise<number[]> {
  return [...(await meanColour(slide, STAIN_REGION, level)), ...(await meanColour(slide, GLASS_REGION, level))];
}

/** Mean R, G, B of a level-0 region read at `level`. */
async function meanColour(
  slide: Slide,
  region: { x: number; y: number; width: number; height: number },
  level: number,
): Promise<number[]> {
  const d = slide.levels[level]!.downsample;
  const [w, h] = [Math.round(region.width / d), Math.round(region.height / d)];
  const rgb = await slide.readRegion(region.x, region.y, level, w, h);
  const sum = [0, 0, 0];
  for (let i = 0; i < rgb.length; i++) sum[i % 3]! += rgb[i]!;
  return sum.map((s) => s / (w * h));
}

/** Largest per-channel difference of a mean colour from the expected one. */
export const colourError = (got: readonly number[], want: readonly number[]) =>
  Math.max(...got.map((g, i) => Math.abs(g - want[i]!)));
