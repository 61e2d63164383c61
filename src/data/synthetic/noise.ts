/** Smooth value noise evaluated at any real point: hashed lattice values, smoothstep-interpolated.
 *  Hashing (rather than a stored lattice) lets a texture be sampled anywhere, at any scale, with no
 *  allocation, which keeps whole-slide rendering cheap. */
import type { Random } from '../../util/random.js';

export class ValueNoise {
  private readonly seed: number;

  constructor(rng: Random) {
    this.seed = rng.int(0x100000000) | 0;
  }

  private lattice(ix: number, iy: number): number {
    let h = Math.imul(ix, 0x27d4eb2d) ^ Math.imul(iy, 0x165667b1) ^ this.seed;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0) / 2147483648 - 1;
  }

  /** In [-1, 1], varying over about one unit. */
  at(x: number, y: number): number {
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    let fx = x - ix;
    let fy = y - iy;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    const a = this.lattice(ix, iy);
    const b = this.lattice(ix + 1, iy);
    const c = this.lattice(ix, iy + 1);
    const d = this.lattice(ix + 1, iy + 1);
    const top = a + (b - a) * fx;
    return top + (c + (d - c) * fx - top) * fy;
  }

  /** Fractal sum of `octaves` octaves, each twice the frequency and half the amplitude; in [-1, 1]. */
  fbm(x: number, y: number, octaves: number): number {
    let sum = 0;
    let amp = 1;
    let norm = 0;
    for (let o = 0; o < octaves; o++) {
      // Offsetting each octave decorrelates the lattices, which otherwise share points at the origin.
      sum += amp * this.at(x + o * 17.13, y - o * 31.7);
      norm += amp;
      amp *= 0.5;
      x *= 2;
      y *= 2;
    }
    return sum / norm;
  }
}

export function smoothstep(lo: number, hi: number, x: number): number {
  const t = x <= lo ? 0 : x >= hi ? 1 : (x - lo) / (hi - lo);
  return t * t * (3 - 2 * t);
}
