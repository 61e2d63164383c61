/** The scanner's contribution to a slide's look: optical blur and sensor noise. */
import type { Random } from '../../util/random.js';
import type { Density } from './density.js';
import { between } from './rand.js';

export interface ScannerParams {
  /** Gaussian point-spread sigma in px. */
  blurSigma: number;
  /** Std of additive sensor noise in 8-bit grey levels. */
  noiseStd: number;
}

export function randomScanner(rng: Random): ScannerParams {
  return { blurSigma: between(rng, 0.5, 1.5), noiseStd: between(rng, 1, 4) };
}

/** Separable Gaussian blur of both density planes, in place. Blurring densities rather than
 *  intensities halves the work (two planes, not three); at sigmas of a pixel or so the two differ
 *  by less than the sensor noise. Edges are clamped. */
export function blurDensity(d: Density, sigma: number): void {
  const radius = Math.ceil(3 * sigma);
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) sum += kernel[k + radius] = Math.exp((-k * k) / (2 * sigma * sigma));
  for (let k = 0; k < kernel.length; k++) kernel[k]! /= sum;
  const row = new Float32Array(d.width);
  const copy = new Float32Array(d.width * d.height);
  for (const plane of [d.h, d.e]) {
    blurRows(plane, d.width, d.height, kernel, radius, row);
    blurColumns(plane, d.width, d.height, kernel, radius, copy);
  }
}

function blurRows(
  p: Float32Array,
  w: number,
  h: number,
  kernel: Float32Array,
  radius: number,
  tmp: Float32Array,
): void {
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) {
        const xx = x + k < 0 ? 0 : x + k >= w ? w - 1 : x + k;
        acc += kernel[k + radius]! * p[row + xx]!;
      }
      tmp[x] = acc;
    }
    p.set(tmp, row);
  }
}

/** Vertical pass over whole rows at a time, which walks memory in order instead of striding. */
function blurColumns(
  p: Float32Array,
  w: number,
  h: number,
  kernel: Float32Array,
  radius: number,
  copy: Float32Array,
): void {
  copy.set(p);
  p.fill(0);
  for (let y = 0; y < h; y++) {
    const out = y * w;
    for (let k = -radius; k <= radius; k++) {
      const yy = y + k < 0 ? 0 : y + k >= h ? h - 1 : y + k;
      const src = yy * w;
      const weight = kernel[k + radius]!;
      for (let x = 0; x < w; x++) p[out + x] += weight * copy[src + x]!;
    }
  }
}

/** Add Gaussian sensor noise to interleaved RGB, in place (clamped to 0..255). */
export function addSensorNoise(rgb: Uint8Array, std: number, rng: Random): void {
  for (let i = 0; i < rgb.length; i++) {
    const v = Math.round(rgb[i]! + std * rng.normal());
    rgb[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}
