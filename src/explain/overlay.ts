/** Heat maps drawn over their image: a turbo colour scale blended onto the RGB pixels. */
import sharp from 'sharp';

/** Share of the heat-map colour in each blended pixel: the tissue stays visible underneath. */
export const OVERLAY_ALPHA = 0.45;

/**
 * Turbo (Mikhailov 2019, a perceptually smoother jet): dark blue (0) → cyan → green → yellow → red (1),
 * by its published degree-5 polynomial fit per channel.
 */
export function turbo(value: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, value));
  const poly = (c: readonly number[]) => c.reduceRight((acc, k) => acc * x + k, 0);
  const r = poly([0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943]);
  const g = poly([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604]);
  const b = poly([0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]);
  return [r, g, b].map((v) => Math.round(255 * Math.min(1, Math.max(0, v)))) as [number, number, number];
}

/** size × size RGB pixels with `map` (size × size, values in [0, 1]) blended over them. */
export function overlayRgb(pixels: Uint8Array, size: number, map: Float32Array, alpha = OVERLAY_ALPHA): Uint8Array {
  if (pixels.length !== 3 * size * size) throw new RangeError(`overlay: expected ${3 * size * size} RGB bytes for ${size}×${size}, got ${pixels.length}`);
  if (map.length !== size * size) throw new RangeError(`overlay: expected a ${size}×${size} map, got ${map.length} values`);
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < map.length; i++) {
    const colour = turbo(map[i]);
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round((1 - alpha) * pixels[3 * i + c] + alpha * colour[c]);
  }
  return out;
}

/** The overlay as a PNG. */
export function overlayPng(pixels: Uint8Array, size: number, map: Float32Array, alpha = OVERLAY_ALPHA): Promise<Buffer> {
  return sharp(overlayRgb(pixels, size, map, alpha), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}
