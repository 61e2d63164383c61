/** Glands: a lumen with a wobbly outline, lined by a band of epithelium. Painting records, per pixel,
 *  which zone it fell in and how deep into the epithelium it lies (0 at the lumen, 1 at the base),
 *  so the tissue can then put goblet cells near the lumen and nuclei near the base. */
import type { Random } from '../../util/random.js';
import { between } from './rand.js';

export const STROMA = 0;
export const EPITHELIUM = 1;
export const LUMEN = 2;

export interface Gland {
  x: number;
  y: number;
  /** Lumen radius per angle bin (px); irregular shapes come from random harmonics. */
  lumen: Float32Array;
  /** Epithelium thickness (px) per angle bin. */
  wall: Float32Array;
}

const BINS = 64;

export function makeGland(rng: Random, x: number, y: number, lumen: number, wall: number, irregularity: number): Gland {
  const lumenR = new Float32Array(BINS);
  const wallR = new Float32Array(BINS);
  const harmonics = [2, 3, 4, 5].map((k) => ({
    k,
    amp: (irregularity * between(rng, 0.2, 1)) / k ** 0.7,
    phase: between(rng, 0, 2 * Math.PI),
  }));
  const wallPhase = between(rng, 0, 2 * Math.PI);
  for (let b = 0; b < BINS; b++) {
    const t = (b / BINS) * 2 * Math.PI;
    let f = 1;
    for (const h of harmonics) f += h.amp * Math.cos(h.k * t + h.phase);
    lumenR[b] = Math.max(1, lumen * f);
    wallR[b] = wall * (1 + 0.25 * irregularity * Math.cos(2 * t + wallPhase));
  }
  return { x, y, lumen: lumenR, wall: wallR };
}

/** Largest distance from the centre that a gland covers. */
export function glandReach(g: Gland): number {
  let max = 0;
  for (let b = 0; b < BINS; b++) max = Math.max(max, g.lumen[b]! + g.wall[b]!);
  return max;
}

export interface GlandMap {
  /** STROMA, EPITHELIUM or LUMEN per pixel. */
  zone: Uint8Array;
  /** Depth into the epithelium (0 at the lumen, 1 at the basement membrane); −1 outside it. */
  depth: Float32Array;
}

/** Rasterise glands: every gland's epithelium first, then every lumen on top, so touching glands fuse
 *  into sheets pierced by lumens, as in crowded and cribriform glands. */
export function rasterGlands(width: number, height: number, glands: readonly Gland[]): GlandMap {
  const zone = new Uint8Array(width * height);
  const depth = new Float32Array(width * height).fill(-1);
  for (const pass of [EPITHELIUM, LUMEN]) {
    for (const g of glands) {
      const reach = glandReach(g) + 1;
      const x0 = Math.max(0, Math.floor(g.x - reach));
      const x1 = Math.min(width - 1, Math.ceil(g.x + reach));
      const y0 = Math.max(0, Math.floor(g.y - reach));
      const y1 = Math.min(height - 1, Math.ceil(g.y + reach));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const dx = x - g.x;
          const dy = y - g.y;
          const rho = Math.sqrt(dx * dx + dy * dy);
          const pos = ((Math.atan2(dy, dx) + Math.PI) / (2 * Math.PI)) * BINS;
          const b0 = Math.floor(pos) % BINS;
          const b1 = (b0 + 1) % BINS;
          const f = pos - Math.floor(pos);
          const lumen = g.lumen[b0]! * (1 - f) + g.lumen[b1]! * f;
          const i = y * width + x;
          if (pass === LUMEN) {
            if (rho < lumen) {
              zone[i] = LUMEN;
              depth[i] = -1;
            }
            continue;
          }
          const wall = g.wall[b0]! * (1 - f) + g.wall[b1]! * f;
          if (rho >= lumen + wall) continue;
          const dep = Math.max(0, (rho - lumen) / wall);
          // Where glands overlap, the pixel belongs to the gland whose lumen it is nearer.
          if (zone[i] !== EPITHELIUM || dep < depth[i]!) {
            zone[i] = EPITHELIUM;
            depth[i] = dep;
          }
        }
      }
    }
  }
  return { zone, depth };
}
