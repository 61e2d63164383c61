/**
 * Whole-slide images behind one interface (Slide, types.ts): OpenSlide for the scanner formats it
 * knows (Aperio SVS, Hamamatsu, generic tiled TIFF, …), sharp (libvips) for what it does not open —
 * plain JPEG/PNG/WebP/TIFF images, read as a one-level slide, and pyramidal TIFFs libvips can read
 * page by page — and the DICOM reader for VL Whole Slide Microscopy series, in a folder of Part 10
 * files or in a PACS over DICOMweb.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { decodeFrame } from './dicom/frame-codecs.js';
import { isPart10File, readPart10Summary } from './dicom/part10.js';
import { openDicomFolderSlide, parseDicomSlideRef } from './dicom/series.js';
import { HistoseekError } from '../util/errors.js';
import { isDicomWebUrl } from './dicomweb/dicomweb-url.js';
import { openDicomWebSlide } from './dicomweb/dicomweb-slide.js';
import { bestLevel, checkRegion, levelRegion, plausibleMpp } from './slide-checks.js';
import { checkTiffColour } from './tiff-colour.js';
import { JpegTiffSlide } from './tiff/jpeg-tiff-slide.js';
import { OpenSlide, OpenSlideError, OpenSlideUnavailableError, argbToRgb, openslideAvailable } from './openslide.js';
import type { RgbRaster, Slide, SlideLevel } from './types.js';

/** The file could not be opened as a slide by either reader; the message names the file and both reasons. */
export class SlideOpenError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`cannot open slide ${path}: ${reason}`);
    this.name = 'SlideOpenError';
  }
}

/**
 * Level downsamples derived from rounded level sizes sit a hair above the nominal factor (2.0003 for
 * 2); asking for the best level with this much slack picks the level that is nominally exact instead of
 * reading a twice larger one and shrinking it.
 */
export const LEVEL_SLACK = 1.01;

/** Formats OpenSlide never reads, so a missing libopenslide does not matter for them. */
const PLAIN_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif']);

export interface OpenSlideOptions {
  /**
   * 'auto' (default): OpenSlide first, sharp when OpenSlide does not recognise or cannot read the
   * file, and TIFFs whose JPEG tiles libtiff would decode in the wrong colour space decoded here or
   * refused (./tiff-colour.ts). 'openslide' or 'sharp': that reader only, unchecked.
   */
  backend?: 'auto' | 'openslide' | 'sharp';
}

/**
 * Opens a slide: a file; a DICOM series — a folder holding one, `FOLDER#series=UID`, or one of its
 * Part 10 files; or a series in a PACS (`dicomweb+https://…`). Throws SlideOpenError naming the path
 * (and each reader's reason) when it cannot.
 */
export async function openSlide(path: string, options: OpenSlideOptions = {}): Promise<Slide> {
  if (isDicomWebUrl(path)) return openDicomWebSlideNamed(path);
  const dicom = await dicomSeriesAt(path);
  if (dicom) {
    try {
      return await openDicomFolderSlide(path, dicom.folder, dicom.seriesInstanceUid, decodeFrame);
    } catch (e) {
      throw new SlideOpenError(path, (e as Error).message);
    }
  }
  const backend = options.backend ?? 'auto';
  try {
    if (!(await stat(path)).isFile()) throw new SlideOpenError(path, 'not a file');
  } catch (e) {
    if (e instanceof SlideOpenError) throw e;
    throw new SlideOpenError(path, (e as Error).message);
  }
  if (backend === 'auto') {
    const colour = await checkTiffColour(path).catch((e: Error) => {
      throw new SlideOpenError(path, e.message);
    });
    if (colour.verdict === 'refuse') throw new SlideOpenError(path, colour.reason);
    if (colour.verdict === 'recode') return JpegTiffSlide.open(path, colour);
  }
  const reasons: string[] = [];
  if (backend !== 'sharp') {
    try {
      const handle = OpenSlide.open(path);
      if (handle) return new OpenSlideSlide(handle);
      reasons.push('OpenSlide does not recognise the format');
    } catch (e) {
      if (e instanceof OpenSlideError) reasons.push(`OpenSlide: ${e.reason}`);
      else if (e instanceof OpenSlideUnavailableError) reasons.push(e.message);
      else throw e;
    }
    if (backend === 'openslide') throw new SlideOpenError(path, reasons.join('; '));
  }
  let metadata: Metadata;
  try {
    metadata = await sharp(path).metadata();
  } catch (e) {
    reasons.push(`sharp: ${(e as Error).message}`);
    throw new SlideOpenError(path, reasons.join('; '));
  }
  // Without OpenSlide a TIFF may be a scanner format read wrongly (no vendor metadata, no mpp): refuse it.
  if (backend === 'auto' && !openslideAvailable() && !PLAIN_FORMATS.has(metadata.format ?? '')) {
    throw new SlideOpenError(path, reasons.join('; '));
  }
  return SharpSlide.open(path, metadata);
}

/** A series in a PACS; errors with a code (credentials refused, no such series) keep it. */
async function openDicomWebSlideNamed(path: string): Promise<Slide> {
  try {
    return await openDicomWebSlide(path);
  } catch (e) {
    if (e instanceof HistoseekError) throw e;
    throw new SlideOpenError(path, (e as Error).message);
  }
}

/** The DICOM series `path` names — a folder, `FOLDER#series=UID`, or a Part 10 file's series — or null when it names a file of another kind. */
async function dicomSeriesAt(path: string): Promise<{ folder: string; seriesInstanceUid: string | null } | null> {
  const ref = parseDicomSlideRef(path);
  if (ref) return ref;
  const info = await stat(path).catch(() => null);
  if (info?.isDirectory()) return { folder: path, seriesInstanceUid: null };
  if (!info?.isFile() || !(await isPart10File(path))) return null;
  const { seriesInstanceUid } = await readPart10Summary(path).catch((e: Error) => {
    throw new SlideOpenError(path, e.message);
  });
  if (!seriesInstanceUid) throw new SlideOpenError(path, 'DICOM file without a Series Instance UID (0020,000E)');
  return { folder: dirname(path), seriesInstanceUid };
}

/** OpenSlide's ARGB output lives only until converted to RGB: tile-sized buffers are reused, as
 *  allocating and zeroing a fresh one per tile costs about a tenth of a tile's read. */
const SCRATCH_MAX_PIXELS = 512 * 512;
const SCRATCH_BUFFERS = 8;

class OpenSlideSlide implements Slide {
  private readonly scratch: Uint32Array[] = [];
  readonly path: string;
  readonly backend = 'openslide' as const;
  readonly vendor: string;
  readonly levels: readonly SlideLevel[];
  readonly mpp: { x: number; y: number } | null;
  readonly objectivePower: number | null;
  readonly properties: Readonly<Record<string, string>>;

  constructor(private readonly osr: OpenSlide) {
    this.path = osr.path;
    const props = osr.properties();
    this.properties = props;
    this.vendor = props['openslide.vendor'] ?? 'unknown';
    this.levels = Array.from({ length: osr.levelCount() }, (_, level) => ({
      ...osr.levelDimensions(level),
      downsample: osr.levelDownsample(level),
    }));
    this.mpp = openslideMpp(props);
    const power = Number(props['openslide.objective-power']);
    this.objectivePower = power > 0 ? power : null;
  }

  associatedImages(): string[] {
    return this.osr.associatedImageNames();
  }

  async readAssociated(name: string): Promise<RgbRaster> {
    const { width, height, argb } = this.osr.readAssociatedArgb(name);
    return { width, height, rgb: argbToRgb(argb) };
  }

  async readRegion(x0: number, y0: number, level: number, width: number, height: number): Promise<Uint8Array> {
    checkRegion(this, x0, y0, level, width, height);
    const pixels = width * height;
    const spare = pixels <= SCRATCH_MAX_PIXELS ? this.scratch.pop() : undefined;
    const argb = spare && spare.length >= pixels ? spare.subarray(0, pixels) : new Uint32Array(pixels);
    try {
      await this.osr.readRegionArgb(argb, x0, y0, level, width, height);
      // Every byte is written by the conversion: no need to zero the output first.
      return argbToRgb(argb, Buffer.allocUnsafe(pixels * 3));
    } finally {
      if (pixels <= SCRATCH_MAX_PIXELS && this.scratch.length < SCRATCH_BUFFERS)
        this.scratch.push(new Uint32Array(argb.buffer));
    }
  }

  bestLevelForDownsample(downsample: number): number {
    return this.osr.bestLevelForDownsample(downsample);
  }

  close(): void {
    this.osr.close();
  }
}

/** openslide.mpp-x/y when the vendor gives them; otherwise the TIFF resolution when its unit is physical. */
function openslideMpp(props: Record<string, string>): { x: number; y: number } | null {
  if (props['openslide.mpp-x'] && props['openslide.mpp-y']) {
    return plausibleMpp(Number(props['openslide.mpp-x']), Number(props['openslide.mpp-y']));
  }
  const micronsPerUnit = { centimeter: 1e4, inch: 25_400 }[props['tiff.ResolutionUnit'] ?? ''];
  const xres = Number(props['tiff.XResolution']);
  const yres = Number(props['tiff.YResolution']);
  if (!micronsPerUnit || !(xres > 0) || !(yres > 0)) return null;
  return plausibleMpp(micronsPerUnit / xres, micronsPerUnit / yres);
}

/** Plain images up to this many bytes of RGB are decoded once and kept; larger ones are cut from the file per read. */
const PLAIN_CACHE_BYTES = 256 * 2 ** 20;

const WHITE = { r: 255, g: 255, b: 255 };

/**
 * A slide read with sharp: a plain image as one level, or the pages of a pyramidal TIFF that form a
 * pyramid (each a smaller copy of page 0 with its aspect ratio; other pages, e.g. a label, are ignored).
 */
class SharpSlide implements Slide {
  readonly backend = 'sharp' as const;
  readonly objectivePower = null;
  /** The decoded level 0 of a small single-level image, once read. */
  private cached: Promise<Uint8Array> | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly vendor: string,
    readonly levels: readonly SlideLevel[],
    /** Page number of each level. */
    private readonly pages: readonly number[],
    readonly mpp: { x: number; y: number } | null,
    readonly properties: Readonly<Record<string, string>>,
  ) {}

  static async open(path: string, metadata: Metadata): Promise<SharpSlide> {
    const format = metadata.format ?? 'unknown';
    const { width, height } = metadata.autoOrient;
    const levels: SlideLevel[] = [{ width, height, downsample: 1 }];
    const pages = [0];
    if (format === 'tiff') {
      for (let page = 1; page < (metadata.pages ?? 1); page++) {
        const m = await sharp(path, { page }).metadata();
        const dx = width / m.width;
        const dy = height / m.height;
        const last = levels.at(-1)!;
        if (Math.abs(dx - dy) <= 0.02 * dx && m.width < last.width) {
          levels.push({ width: m.width, height: m.height, downsample: (dx + dy) / 2 });
          pages.push(page);
        }
      }
    }
    // sharp reports density in pixels per inch whatever the file's unit.
    const mpp = metadata.density ? plausibleMpp(25_400 / metadata.density, 25_400 / metadata.density) : null;
    const properties: Record<string, string> = { 'sharp.format': format };
    if (metadata.density) properties['sharp.density'] = String(metadata.density);
    if (metadata.resolutionUnit) properties['sharp.resolution-unit'] = metadata.resolutionUnit;
    return new SharpSlide(path, format, levels, pages, mpp, properties);
  }

  associatedImages(): string[] {
    return [];
  }

  async readAssociated(name: string): Promise<RgbRaster> {
    throw new Error(`${this.path}: no associated image '${name}' (images read with sharp have none)`);
  }

  bestLevelForDownsample(downsample: number): number {
    return bestLevel(this.levels, downsample);
  }

  async readRegion(x0: number, y0: number, level: number, width: number, height: number): Promise<Uint8Array> {
    if (this.closed) throw new Error(`${this.path}: slide is closed`);
    const { x, y, left, top, right, bottom } = levelRegion(this, x0, y0, level, width, height);
    const { width: lw, height: lh } = this.levels[level]!;
    if (this.levels.length === 1 && lw * lh * 3 <= PLAIN_CACHE_BYTES) {
      return crop(await this.decodeWhole(), lw, lh, x, y, width, height);
    }
    // The part of the request inside the level; the rest is padded with white.
    if (right <= left || bottom <= top) return new Uint8Array(width * height * 3).fill(255);
    try {
      const image = sharp(this.path, { page: this.pages[level], autoOrient: true, limitInputPixels: false })
        .extract({ left, top, width: right - left, height: bottom - top })
        .extend({
          top: top - y,
          left: left - x,
          bottom: y + height - bottom,
          right: x + width - right,
          background: WHITE,
        });
      return await rgbOf(image);
    } catch (e) {
      throw new Error(
        `${this.path}: reading level ${level} at (${x0}, ${y0}), ${width}×${height}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  private decodeWhole(): Promise<Uint8Array> {
    this.cached ??= rgbOf(sharp(this.path, { autoOrient: true, limitInputPixels: false })).catch((e: Error) => {
      this.cached = undefined;
      throw new Error(`${this.path}: ${e.message}`);
    });
    return this.cached;
  }

  close(): void {
    this.closed = true;
    this.cached = undefined;
  }
}

/** Decodes to 3-channel sRGB bytes: alpha flattened onto white (empty glass), grey expanded. */
async function rgbOf(image: Sharp): Promise<Uint8Array> {
  const { data, info } = await image
    .flatten({ background: WHITE })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Cuts a region out of a decoded image, white where it falls outside. */
function crop(
  src: Uint8Array,
  sw: number,
  sh: number,
  x: number,
  y: number,
  width: number,
  height: number,
): Uint8Array {
  const out = new Uint8Array(width * height * 3).fill(255);
  const left = Math.max(0, x);
  const right = Math.min(sw, x + width);
  if (right <= left) return out;
  for (let row = Math.max(0, y); row < Math.min(sh, y + height); row++) {
    const from = (row * sw + left) * 3;
    out.set(src.subarray(from, from + (right - left) * 3), ((row - y) * width + (left - x)) * 3);
  }
  return out;
}

/** A downsampled whole-slide image: `downsample` level-0 pixels per pixel. */
export interface Thumbnail extends RgbRaster {
  downsample: number;
}

/** Pixels of the source level read per strip when downsampling: bounds the memory a thumbnail needs. */
const STRIP_PIXELS = 2_000_000;

/**
 * The whole slide shrunk so that its longer side is at most `maxSide` (never enlarged). Reads the
 * coarsest level fine enough, in horizontal strips of bounded size that sharp shrinks one by one, so a
 * slide without a pyramid does not have to fit in memory.
 */
export async function readThumbnail(slide: Slide, maxSide: number): Promise<Thumbnail> {
  if (!Number.isInteger(maxSide) || maxSide < 1)
    throw new RangeError(`maxSide must be a positive integer, got ${maxSide}`);
  const { width: w0, height: h0 } = slide.levels[0]!;
  const downsample = Math.max(1, Math.max(w0, h0) / maxSide);
  const width = Math.max(1, Math.round(w0 / downsample));
  const height = Math.max(1, Math.round(h0 / downsample));
  const level = slide.bestLevelForDownsample(downsample * LEVEL_SLACK);
  const { width: lw, height: lh, downsample: ld } = slide.levels[level]!;
  const scale = downsample / ld; // level pixels per thumbnail pixel
  const rowsPerStrip = Math.max(1, Math.floor(STRIP_PIXELS / (lw * scale)));
  // Level row where thumbnail row r starts; consecutive strips share their boundaries.
  const boundary = (r: number) => (r === height ? lh : Math.min(lh - 1, Math.round(r * scale)));
  const rgb = new Uint8Array(width * height * 3);
  for (let r0 = 0; r0 < height; r0 += rowsPerStrip) {
    const r1 = Math.min(height, r0 + rowsPerStrip);
    const top = boundary(r0);
    const bottom = Math.max(top + 1, boundary(r1));
    const strip = await slide.readRegion(0, Math.round(top * ld), level, lw, bottom - top);
    const shrunk =
      lw === width && bottom - top === r1 - r0
        ? strip
        : await sharp(strip, { raw: { width: lw, height: bottom - top, channels: 3 } })
            .resize(width, r1 - r0, { fit: 'fill' })
            .raw()
            .toBuffer();
    rgb.set(shrunk, r0 * width * 3);
  }
  return { width, height, downsample, rgb };
}
