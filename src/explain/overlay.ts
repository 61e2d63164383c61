/** Heat maps drawn over their image: the jet colour scale blended onto the RGB pixels. */
import sharp from 'sharp';

/** Share of the heat-map colour in each blended pixel: the tissue stays visible underneath. */
export const OVERLAY_ALPHA = 0.45;

/**
 * Jet, the colour scale of the Grad-CAM papers' figures, in its usual piecewise-linear form: dark blue (0)
 * → blue → cyan → yellow → red → dark red (1).
 */
export function jet(value: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, value));
  const ramp = (centre: number) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - centre))));
  return [ramp(3), ramp(2), ramp(1)];
}

/** size × size RGB pixels with `map` (size × size, values in [0, 1]) blended over them. */
export function overlayRgb(pixels: Uint8Array, size: number, map: Float32Array, alpha = OVERLAY_ALPHA): Uint8Array {
  if (pixels.length !== 3 * size * size)
    throw new RangeError(`overlay: expected ${3 * size * size} RGB bytes for ${size}×${size}, got ${pixels.length}`);
  if (map.length !== size * size)
    throw new RangeError(`overlay: expected a ${size}×${size} map, got ${map.length} values`);
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < map.length; i++) {
    const colour = jet(map[i]);
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round((1 - alpha) * pixels[3 * i + c] + alpha * colour[c]);
  }
  return out;
}

/** The overlay as a PNG. */
export function overlayPng(
  pixels: Uint8Array,
  size: number,
  map: Float32Array,
  alpha = OVERLAY_ALPHA,
): Promise<Buffer> {
  return sharp(overlayRgb(pixels, size, map, alpha), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}
