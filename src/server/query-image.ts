/**
 * An uploaded query image, checked before it costs anything: the header is read first (no pixel
 * decoding), so a non-image is a 415, a format outside the indexed ones (SVG, PDF, GIF… which
 * sharp could also read) is a 415, and a decompression bomb — a small file claiming a huge canvas —
 * is a 413 decided from its header alone. Only then are the pixels decoded and preprocessed.
 */
import sharp, { type Metadata } from 'sharp';
import { decodeRgb, ImageError, normalizeInto } from '../data/image.js';
import { HttpError } from './errors.js';

const ACCEPTED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'tiff', 'webp']);
const ACCEPTED = 'JPEG, PNG, TIFF or WebP';

export interface QueryImage {
  width: number;
  height: number;
  format: string;
  /** The model's input: 3 × size × size, normalised (see normalizeInto). */
  input: Float32Array;
}

/** Header checks: the image's format and size, or an HttpError saying what is wrong. */
export async function probeUpload(bytes: Buffer, maxPixels: number): Promise<{ width: number; height: number; format: string }> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new HttpError(415, `the upload is not an image histoseek can read (send a ${ACCEPTED} file)`);
  }
  const format = meta.format ?? 'unknown';
  if (!ACCEPTED_FORMATS.has(format)) throw new HttpError(415, `the upload is a ${format} image; send a ${ACCEPTED} file`);
  const { width, height } = meta.autoOrient;
  if (width * height > maxPixels) {
    throw new HttpError(413, `the image is ${width}×${height} px (${width * height} pixels); queries are limited to ${maxPixels} pixels — send a patch, not a slide`);
  }
  return { width, height, format };
}

/** Probes, decodes and preprocesses an upload for a model of input side `size`; undecodable pixel data is a 422 with the reason. */
export async function decodeUpload(bytes: Buffer, size: number, maxPixels: number): Promise<QueryImage> {
  const probed = await probeUpload(bytes, maxPixels);
  let pixels: Uint8Array;
  try {
    ({ pixels } = await decodeRgb(bytes, size, 'the upload', { maxPixels, dimensions: probed }));
  } catch (err) {
    if (err instanceof ImageError) throw new HttpError(422, err.message);
    throw err;
  }
  const input = new Float32Array(3 * size * size);
  normalizeInto(pixels, size, input, 0);
  return { ...probed, input };
}
