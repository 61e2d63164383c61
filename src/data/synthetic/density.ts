/** A stain-density canvas: haematoxylin and eosin optical density per pixel, before any colour. */
export interface Density {
  width: number;
  height: number;
  /** Haematoxylin OD, row-major. */
  h: Float32Array;
  /** Eosin OD, row-major. */
  e: Float32Array;
}

export function createDensity(width: number, height: number): Density {
  return { width, height, h: new Float32Array(width * height), e: new Float32Array(width * height) };
}

/** Copy `src` into `dst` with its top-left at (x0, y0), where `keep(dstIndex)` allows; clipped to `dst`. */
export function pasteDensity(
  dst: Density,
  src: Density,
  x0: number,
  y0: number,
  keep: (dstIndex: number) => boolean = () => true,
): void {
  const xa = Math.max(0, x0);
  const ya = Math.max(0, y0);
  const xb = Math.min(dst.width, x0 + src.width);
  const yb = Math.min(dst.height, y0 + src.height);
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const i = y * dst.width + x;
      if (!keep(i)) continue;
      const j = (y - y0) * src.width + (x - x0);
      dst.h[i] = src.h[j]!;
      dst.e[i] = src.e[j]!;
    }
  }
}

/** Blend a soft-edged disc of the given densities over what is there (goblet vacuoles, red cells,
 *  cytoplasm halos). */
export function blendDisc(d: Density, cx: number, cy: number, radius: number, h: number, e: number): void {
  const x0 = Math.max(0, Math.floor(cx - radius - 1));
  const x1 = Math.min(d.width - 1, Math.ceil(cx + radius + 1));
  const y0 = Math.max(0, Math.floor(cy - radius - 1));
  const y1 = Math.min(d.height - 1, Math.ceil(cy + radius + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const r = Math.hypot(x - cx, y - cy);
      const c = Math.min(1, Math.max(0, radius + 0.5 - r));
      if (c <= 0) continue;
      const i = y * d.width + x;
      d.h[i] = d.h[i]! * (1 - c) + h * c;
      d.e[i] = d.e[i]! * (1 - c) + e * c;
    }
  }
}
