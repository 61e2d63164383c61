/**
 * An uploaded query image, checked before it costs anything: the header is read (no pixel
 * decoding), so a non-image is a 415, a format outside the indexed ones (SVG, PDF, GIF… which
 * sharp could also read) is a 415, and a decompression bomb — a small file claiming a huge canvas —
 * is a 413 decided from its header alone. The pixels decode meanwhile on another thread, under a
 * pixel limit libvips also checks from the header, and are used only once the header passed.
 */
import sharp, { type Metadata } from 'sharp';
import { decodeRgb, ImageError } from '../data/image.js';
import { HttpError } from './errors.js';

const ACCEPTED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'tiff', 'webp']);
const ACCEPTED = 'JPEG, PNG, TIFF or WebP';

export interface QueryImage {
  width: number;
  height: number;
  format: string;
  /** The image resized to the model's input: size × size RGB. */
  pixels: Uint8Array;
}

/** Header checks: the image's format and size, or an HttpError saying what is wrong. */
export async function probeUpload(
  bytes: Buffer,
  maxPixels: number,
): Promise<{ width: number; height: number; format: string }> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new HttpError(415, `the upload is not an image histoseek can read (send a ${ACCEPTED} file)`);
  }
  const format = meta.format ?? 'unknown';
  if (!ACCEPTED_FORMATS.has(format))
    throw new HttpError(415, `the upload is a ${format} image; send a ${ACCEPTED} file`);
  const { width, height } = meta.autoOrient;
  if (width * height > maxPixels) {
    throw new HttpError(
      413,
      `the image is ${width}×${height} px (${width * height} pixels); queries are limited to ${maxPixels} pixels — send a patch, not a slide`,
    );
  }
  return { width, height, format };
}

const SIGNATURES: { bytes: number[]; and?: { bytes: number[]; at: number } }[] = [
  { bytes: [0xff, 0xd8, 0xff] }, // JPEG
  { bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] }, // PNG
  { bytes: [0x49, 0x49, 0x2a, 0x00] }, // TIFF, little-endian
  { bytes: [0x4d, 0x4d, 0x00, 0x2a] }, // TIFF, big-endian
  { bytes: [0x49, 0x49, 0x2b, 0x00] }, // BigTIFF, little-endian
  { bytes: [0x4d, 0x4d, 0x00, 0x2b] }, // BigTIFF, big-endian
  { bytes: [0x52, 0x49, 0x46, 0x46], and: { bytes: [0x57, 0x45, 0x42, 0x50], at: 8 } }, // RIFF….WEBP
];

/** Whether the bytes open like a JPEG, PNG, TIFF or WebP file: nothing else (an SVG, say) is decoded before the probe has named its format. */
export function startsLikeAccepted(bytes: Buffer): boolean {
  const has = (sig: number[], at = 0) => sig.every((b, i) => bytes[at + i] === b);
  return SIGNATURES.some((s) => has(s.bytes) && (!s.and || has(s.and.bytes, s.and.at)));
}

/** Probes and decodes an upload for a model of input side `size`; undecodable pixel data is a 422 with the reason. */
export async function decodeUpload(bytes: Buffer, size: number, maxPixels: number): Promise<QueryImage> {
  const probing = probeUpload(bytes, maxPixels);
  // An accepted format's pixels decode while the probe runs (see decodeRgb); a probe error, the clearer one, wins.
  const early = startsLikeAccepted(bytes)
    ? decodeRgb(bytes, size, 'the upload', { maxPixels, dimensions: probing })
    : null;
  early?.catch(() => undefined); // awaited below unless the probe fails first
  const probed = await probing;
  let pixels: Uint8Array;
  try {
    ({ pixels } = await (early ?? decodeRgb(bytes, size, 'the upload', { maxPixels, dimensions: probed })));
  } catch (err) {
    if (err instanceof ImageError) throw new HttpError(422, err.message);
    throw err;
  }
  return { ...probed, pixels };
}
