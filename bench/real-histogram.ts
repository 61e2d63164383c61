/**
 * bench:real's colour baseline: a joint RGB histogram, the textbook colour descriptor (Swain and
 * Ballard's colour indexing), with fixed bins and nothing fitted to any tiles.
 */
import sharp from 'sharp';
import { ImageError } from '../src/data/image.js';

/** Bins per channel: 8 × 8 × 8 = 512 joint bins of 32 levels each. */
export const HISTOGRAM_BINS = 8;

export const HISTOGRAM_DESCRIPTION =
  `joint RGB histogram, ${HISTOGRAM_BINS} equal bins per channel (${HISTOGRAM_BINS ** 3} values), ` +
  'of every pixel of the tile at its own size, L2-normalised; ranked by cosine similarity';

/** The L2-normalised joint histogram of 8-bit RGB pixels (HWC bytes): bin (r, g, b) is at (r·bins + g)·bins + b. */
export function rgbHistogram(pixels: Uint8Array, bins = HISTOGRAM_BINS): Float32Array {
  if (pixels.length === 0 || pixels.length % 3 !== 0) {
    throw new RangeError(`rgbHistogram: ${pixels.length} bytes is not a whole number of RGB pixels`);
  }
  const counts = new Float32Array(bins ** 3);
  const bin = (v: number) => Math.floor((v * bins) / 256);
  for (let i = 0; i < pixels.length; i += 3) {
    counts[(bin(pixels[i]) * bins + bin(pixels[i + 1])) * bins + bin(pixels[i + 2])]++;
  }
  const norm = Math.hypot(...counts);
  return counts.map((c) => c / norm);
}

/** The histogram of an image file's pixels as decoded for the models (alpha flattened onto white, sRGB), without resizing. */
export async function histogramOfFile(file: string): Promise<Float32Array> {
  const { data, info } = await sharp(file)
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch((err: Error) => {
      throw new ImageError(file, err.message);
    });
  if (info.channels !== 3) throw new ImageError(file, `${info.channels} channels after conversion to RGB`);
  return rgbHistogram(data);
}

/** The histograms of image files, one row each (files.length × bins³). */
export async function histogramRows(files: readonly string[]): Promise<Float32Array> {
  const dim = HISTOGRAM_BINS ** 3;
  const out = new Float32Array(files.length * dim);
  (await Promise.all(files.map(histogramOfFile))).forEach((row, i) => out.set(row, i * dim));
  return out;
}
