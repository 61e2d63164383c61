/**
 * Image decoding and the LGFFEM input preprocessing: RGB, resized to S×S, scaled to [0, 1],
 * normalised with the ImageNet mean and std, laid out as planar CHW float32.
 */
import { existsSync } from 'node:fs';
import sharp, { type SharpOptions } from 'sharp';
import { HistoseekError, type ErrorCode } from '../util/errors.js';

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Images with a side shorter than this are rejected: upscaling them to S×S would only invent detail. */
export const MIN_IMAGE_SIDE = 16;

/** Default cap on width × height, so a decompression bomb fails fast instead of exhausting memory. */
export const DEFAULT_MAX_PIXELS = 1_000_000_000;

/** File extensions (lower case, with the dot) of the formats sharp decodes and that we index. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.tif', '.tiff', '.webp']);

/** An image that cannot be used, named by its path (or the caller's label for it): BAD_IMAGE, or NOT_FOUND for a missing file. */
export class ImageError extends HistoseekError {
  constructor(
    readonly path: string,
    reason: string,
    code: Extract<ErrorCode, 'BAD_IMAGE' | 'NOT_FOUND'> = 'BAD_IMAGE',
  ) {
    super(code, `${path}: ${reason}`);
  }
}

/** The reason a missing file gives: NOT_FOUND, where every other decoding failure is BAD_IMAGE. */
const FILE_NOT_FOUND = 'file not found';

export interface RgbImage {
  /** size × size × 3 bytes, row-major HWC, RGB. */
  pixels: Uint8Array;
  /** Size of the original image as displayed, i.e. after EXIF orientation. */
  width: number;
  height: number;
}

export interface Dimensions {
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Largest accepted width × height (sharp's limitInputPixels); DEFAULT_MAX_PIXELS when omitted. */
  maxPixels?: number;
  /** The image's size after EXIF orientation, when the caller reads its header itself (it is then not read again);
   *  a promise lets the pixels decode while the caller's header check runs. */
  dimensions?: Dimensions | Promise<Dimensions>;
}

/** Decode any image sharp reads (JPEG, PNG, TIFF incl. 16-bit, grayscale, RGBA, palette) to 8-bit RGB resized to size×size. */
export function loadRgb(path: string, size: number, options: DecodeOptions = {}): Promise<RgbImage> {
  return decode(path, size, path, options);
}

/** Same as loadRgb from an in-memory buffer (uploads); `label` stands in for the path in error messages. */
export function decodeRgb(
  bytes: Uint8Array,
  size: number,
  label: string,
  options: DecodeOptions = {},
): Promise<RgbImage> {
  return decode(bytes, size, label, options);
}

/** Load and normalise one image to a Float32Array of 3 × size × size (CHW). */
export async function loadPreprocessed(path: string, size: number, options: DecodeOptions = {}): Promise<Float32Array> {
  const { pixels } = await loadRgb(path, size, options);
  const out = new Float32Array(3 * size * size);
  normalizeInto(pixels, size, out, 0);
  return out;
}

/** Per-channel lookup of (v / 255 - mean) / std for every byte value: exact and cheaper than the arithmetic per pixel. */
const NORMALISED = IMAGENET_MEAN.map((mean, c) => {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = (v / 255 - mean) / IMAGENET_STD[c]!;
  return table;
});

/** HWC uint8 RGB → normalised planar CHW float32, written into out at offset (out may hold a whole batch). */
export function normalizeInto(pixels: Uint8Array, size: number, out: Float32Array, offset: number): void {
  const plane = size * size;
  if (pixels.length !== 3 * plane) {
    throw new RangeError(`expected ${3 * plane} bytes for a ${size}×${size} RGB image, got ${pixels.length}`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + 3 * plane > out.length) {
    throw new RangeError(`cannot write ${3 * plane} values at offset ${offset} into a buffer of ${out.length}`);
  }
  for (let c = 0; c < 3; c++) {
    const table = NORMALISED[c]!;
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = table[pixels[3 * i + c]!]!;
  }
}

const NOT_AN_IMAGE = 'not a readable image: unsupported format or not an image file';

/**
 * Options shared by the header probe and the decode.
 * - failOn 'error': a truncated or corrupt file is an error, not a silently grey-padded image.
 * - autoOrient: apply the EXIF orientation, as viewers (and the dataset's curators) see the image.
 * - ignoreIcc: use the stored values, as PIL/torchvision do when the model is trained; it also avoids
 *   sharp converting 16-bit RGB with an embedded profile to Display P3 and then reading it as sRGB.
 */
const INPUT_OPTIONS: SharpOptions = { failOn: 'error', autoOrient: true, ignoreIcc: true };

async function decode(
  input: string | Uint8Array,
  size: number,
  label: string,
  options: DecodeOptions,
): Promise<RgbImage> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`image size must be a positive integer, got ${size}`);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  // The header is read (no pixel decode) so size problems are reported with the actual dimensions.
  // The pixels decode meanwhile on another thread: libvips checks limitInputPixels against the
  // header before decoding anything, so a decompression bomb still costs nothing, and when both
  // fail the header's reason is the one reported.
  const header = options.dimensions ?? orientedSize(input);
  const pixels = decodePixels(input, size, label, maxPixels);
  pixels.catch(() => undefined); // awaited below unless the header fails first
  try {
    const { width, height } = await header;
    checkDimensions(label, width, height, maxPixels);
    return { pixels: await pixels, width, height };
  } catch (err) {
    if (err instanceof ImageError) throw err;
    // libvips may name another reason when the file is gone (seen under load); say what is wrong.
    const reason = typeof input === 'string' && !existsSync(input) ? FILE_NOT_FOUND : describeSharpError(err);
    throw new ImageError(label, reason, reason === FILE_NOT_FOUND ? 'NOT_FOUND' : 'BAD_IMAGE');
  }
}

async function orientedSize(input: string | Uint8Array): Promise<Dimensions> {
  return (await sharp(input, { ...INPUT_OPTIONS, limitInputPixels: false }).metadata()).autoOrient;
}

function checkDimensions(label: string, width: number, height: number, maxPixels: number): void {
  if (Math.min(width, height) < MIN_IMAGE_SIDE) {
    throw new ImageError(label, `image is ${width}×${height} px; the smallest accepted side is ${MIN_IMAGE_SIDE} px`);
  }
  if (width * height > maxPixels) {
    throw new ImageError(
      label,
      `image is ${width}×${height} px (${width * height} pixels); the limit is ${maxPixels} pixels`,
    );
  }
}

/**
 * Decode to size×size 8-bit sRGB. sharp runs its fixed pipeline: orient, flatten, resize, colourspace.
 * - Alpha is flattened onto white: transparent regions in histology exports are empty glass.
 * - fit 'fill' stretches to exactly size×size (the model resizes, it does not crop or pad: docs/model.md#input).
 * - kernel 'linear' is the closest to torchvision's bilinear resize; libvips widens the kernel by the
 *   reduction factor, so downscaling is antialiased like PIL's. fastShrinkOnLoad is off because JPEG
 *   DCT-domain shrinking would alter the pixels the model sees, for a speed gain the model dwarfs.
 * - toColourspace('srgb') gives 3 bands of 8 bits: grayscale is replicated to R=G=B, and 16-bit
 *   samples are scaled down (65535 → 255), not clipped.
 */
async function decodePixels(
  input: string | Uint8Array,
  size: number,
  label: string,
  maxPixels: number,
): Promise<Uint8Array> {
  const { data, info } = await sharp(input, { ...INPUT_OPTIONS, limitInputPixels: maxPixels })
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .resize(size, size, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) {
    throw new ImageError(label, `unsupported pixel layout: ${info.channels} channels after conversion to RGB`);
  }
  return data;
}

/** Turn sharp/libvips messages into a reason a user can act on. */
function describeSharpError(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).trim();
  if (/input file is missing/i.test(message)) return FILE_NOT_FOUND;
  if (/unsupported image format|^input .*is empty/i.test(message)) return NOT_AN_IMAGE;
  if (/corrupt header/i.test(message)) return 'corrupt image header';
  return `could not decode the image data (truncated or corrupt file): ${message}`;
}

/**
 * Resizes raw 8-bit pixels, RGB or RGBA (e.g. a PanNuke array row, a caller's canvas), to size×size
 * RGB with the kernel files get; alpha is flattened onto white as in a decoded file. Pixels that do
 * not fill width × height × channels are a BAD_IMAGE naming `label`.
 */
export async function resizeRgb(
  pixels: Uint8Array,
  width: number,
  height: number,
  size: number,
  label: string,
  channels: 3 | 4 = 3,
): Promise<RgbImage> {
  const expected = width * height * channels;
  if (pixels.length !== expected)
    throw new ImageError(
      label,
      `${pixels.length} bytes of pixels for a ${width}×${height} image with ${channels} channels (${expected} expected)`,
    );
  checkDimensions(label, width, height, DEFAULT_MAX_PIXELS);
  // RGB already at the input size (the server decodes its uploads to it) is used as it is:
  // resampling to the same size returns it unchanged, after a sharp pipeline's cost.
  if (channels === 3 && width === size && height === size) return { pixels, width, height };
  const data = await sharp(pixels, { raw: { width, height, channels } })
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .resize(size, size, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return { pixels: data, width, height };
}
