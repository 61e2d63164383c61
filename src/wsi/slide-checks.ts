/**
 * What every Slide reader shares: checks of a region request (and the request in level pixels), of a
 * resolution, and OpenSlide's rule for the best level.
 */
import type { Slide, SlideLevel } from './types.js';

/** Resolutions outside this range (µm/px) are not microscope scans: e.g. the 72-dpi default of image editors. */
const PLAUSIBLE_MPP: readonly [number, number] = [0.01, 100];

export function plausibleMpp(x: number, y: number): { x: number; y: number } | null {
  const ok = (v: number) => Number.isFinite(v) && v >= PLAUSIBLE_MPP[0] && v <= PLAUSIBLE_MPP[1];
  return ok(x) && ok(y) ? { x, y } : null;
}

/** Throws a RangeError naming the slide when readRegion's arguments name no level or no region. */
export function checkRegion(slide: Slide, x0: number, y0: number, level: number, width: number, height: number): void {
  if (!Number.isInteger(level) || level < 0 || level >= slide.levels.length) {
    throw new RangeError(`${slide.path}: no level ${level} (the slide has ${slide.levels.length})`);
  }
  for (const [name, v] of [
    ['x0', x0],
    ['y0', y0],
  ] as const) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be an integer, got ${v}`);
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`region size must be positive integers, got ${width}×${height}`);
  }
}

/** A readRegion request in level pixels: its origin, and the part of it inside the level, [left, right) × [top, bottom). */
export interface LevelRegion {
  x: number;
  y: number;
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Checks readRegion's arguments (checkRegion) and maps the request onto the level; the part inside is empty when right ≤ left or bottom ≤ top. */
export function levelRegion(
  slide: Slide,
  x0: number,
  y0: number,
  level: number,
  width: number,
  height: number,
): LevelRegion {
  checkRegion(slide, x0, y0, level, width, height);
  const { width: lw, height: lh, downsample } = slide.levels[level]!;
  const x = Math.floor(x0 / downsample);
  const y = Math.floor(y0 / downsample);
  return {
    x,
    y,
    left: Math.max(0, x),
    top: Math.max(0, y),
    right: Math.min(lw, x + width),
    bottom: Math.min(lh, y + height),
  };
}

/** OpenSlide's rule: the coarsest level whose downsample is at most `downsample` (level 0 if none). */
export function bestLevel(levels: readonly SlideLevel[], downsample: number): number {
  let best = 0;
  levels.forEach((l, i) => {
    if (l.downsample <= downsample) best = i;
  });
  return best;
}
