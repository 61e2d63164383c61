/** Small helpers on top of the seeded Random, so every draw in the generator stays on one seeded stream. */
import { Random } from '../../util/random.js';

/** Uniform in [lo, hi). */
export function between(rng: Random, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

/** A 32-bit seed for an independent sub-stream (murmur3 finaliser over the parts), so adding draws to
 *  one part of the generator does not shift the random numbers of another. */
export function subSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export function subRandom(seed: number, ...parts: number[]): Random {
  return new Random(subSeed(seed, ...parts));
}

/** Jittered grid: one point per cell of side `spacing`, displaced by up to `jitter` × spacing. Gives
 *  evenly spread cells without the clumping of pure uniform scattering. */
export function jitteredGrid(
  rng: Random,
  width: number,
  height: number,
  spacing: number,
  jitter: number,
): Array<[number, number]> {
  const points: Array<[number, number]> = [];
  // One ring of cells outside the canvas too, so shapes centred just off the edge still reach into it.
  for (let y = -spacing / 2; y < height + spacing; y += spacing) {
    for (let x = -spacing / 2; x < width + spacing; x += spacing) {
      points.push([x + (rng.uniform() - 0.5) * 2 * jitter * spacing, y + (rng.uniform() - 0.5) * 2 * jitter * spacing]);
    }
  }
  return points;
}
