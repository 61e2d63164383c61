/** Fat cells: large empty polygons (a Voronoi tessellation) whose thin shared walls are the only
 *  stained part. The lookup is warped by smooth noise so walls bow slightly, like real adipocytes. */
import type { Random } from '../../util/random.js';
import type { Density } from './density.js';
import { ValueNoise } from './noise.js';

export interface FatStyle {
  /** Mean cell diameter in px. */
  cell: number;
  /** Wall thickness in px. */
  wall: number;
  /** Eosin OD of a wall. */
  eosin: number;
}

/** Paint the walls; returns `count` points on walls with the wall's direction there, where the
 *  caller can put the odd flattened nucleus. */
export function paintFat(
  d: Density,
  rng: Random,
  style: FatStyle,
  count: number,
): Array<{ x: number; y: number; angle: number }> {
  const { width, height } = d;
  const s = style.cell;
  const cols = Math.ceil(width / s) + 2;
  const rows = Math.ceil(height / s) + 2;
  // One site per grid cell (jittered up to ±0.45 cell) makes the 3×3 neighbourhood sufficient.
  const sx = new Float32Array(cols * rows);
  const sy = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      sx[r * cols + c] = (c - 1 + 0.5 + (rng.uniform() - 0.5) * 0.9) * s;
      sy[r * cols + c] = (r - 1 + 0.5 + (rng.uniform() - 0.5) * 0.9) * s;
    }
  }
  const warp = new ValueNoise(rng);
  // Distance from a point to its nearest wall and that wall's unit normal: the wall is the bisector
  // of the two nearest sites.
  const probe = (x: number, y: number): { toWall: number; nx: number; ny: number } => {
    const px = x + 14 * warp.fbm(x / 90, y / 90, 2);
    const py = y + 14 * warp.fbm(x / 90 + 40.5, y / 90 - 13.2, 2);
    const gc = Math.floor(px / s) + 1;
    const gr = Math.floor(py / s) + 1;
    let best = Infinity;
    let second = Infinity;
    let bi = 0;
    let si = 0;
    for (let r = Math.max(0, gr - 1); r <= Math.min(rows - 1, gr + 1); r++) {
      for (let c = Math.max(0, gc - 1); c <= Math.min(cols - 1, gc + 1); c++) {
        const k = r * cols + c;
        const dx = px - sx[k]!;
        const dy = py - sy[k]!;
        const d2 = dx * dx + dy * dy;
        if (d2 < best) {
          second = best;
          si = bi;
          best = d2;
          bi = k;
        } else if (d2 < second) {
          second = d2;
          si = k;
        }
      }
    }
    const ex = sx[si]! - sx[bi]!;
    const ey = sy[si]! - sy[bi]!;
    const len = Math.sqrt(ex * ex + ey * ey);
    return { toWall: (second - best) / (2 * len), nx: ex / len, ny: ey / len };
  };
  const half = style.wall / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const w = Math.min(1, Math.max(0, half + 0.5 - probe(x, y).toWall));
      if (w <= 0) continue;
      const i = y * width + x;
      // Walls vary in stain uptake along their length.
      const tone = 0.75 + 0.45 * warp.at(x / 25 - 7.7, y / 25 + 3.1);
      d.e[i] = Math.max(d.e[i]!, style.eosin * tone * w);
      d.h[i] = Math.max(d.h[i]!, 0.06 * w);
    }
  }
  const onWalls: Array<{ x: number; y: number; angle: number }> = [];
  for (let n = 0; n < count; n++) {
    const x = rng.uniform() * width;
    const y = rng.uniform() * height;
    const { toWall, nx, ny } = probe(x, y);
    // Step onto the wall (approximately: the warp moves it by a pixel or two) and lie along it.
    onWalls.push({ x: x + nx * toWall, y: y + ny * toWall, angle: Math.atan2(ny, nx) + Math.PI / 2 });
  }
  return onWalls;
}
