/** Collagen fibres: wavy eosinophilic bundles of varying thickness separated by pale clefts, with fine
 *  fibrils along them. Textures are sampled in a frame aligned with the main fibre direction and
 *  stretched along it; displacing the across-coordinate by smooth noise makes the bundles wave. */
import type { Random } from '../../util/random.js';
import type { Density } from './density.js';
import { ValueNoise, smoothstep } from './noise.js';
import { between } from './rand.js';

export interface FibreStyle {
  /** Eosin OD of a dense bundle. */
  eosin: number;
  /** Haematoxylin OD of the collagen background (counterstain). */
  haematoxylin: number;
  /** Typical bundle thickness in px. */
  thickness: number;
  /** Amplitude of the waves in px: 0 = straight bundles. */
  waviness: number;
  /** 0..1: how much of the space between bundles opens into white clefts. */
  clefts: number;
}

export class FibreField {
  private readonly warp: ValueNoise;
  private readonly bundles: ValueNoise;
  private readonly fibrils: ValueNoise;
  private readonly cos: number;
  private readonly sin: number;

  constructor(
    rng: Random,
    readonly style: FibreStyle,
  ) {
    this.warp = new ValueNoise(rng);
    this.bundles = new ValueNoise(rng);
    this.fibrils = new ValueNoise(rng);
    const angle = between(rng, 0, Math.PI);
    this.cos = Math.cos(angle);
    this.sin = Math.sin(angle);
  }

  /** Across-fibre coordinate, displaced so that lines of constant value are the wavy fibres. */
  private across(x: number, y: number): number {
    return -x * this.sin + y * this.cos + this.style.waviness * this.warp.fbm(x / 220, y / 220, 3);
  }

  /** Local fibre direction (radians), to align spindle nuclei with the fibres around them. */
  angleAt(x: number, y: number): number {
    const gx = this.across(x + 1, y) - this.across(x - 1, y);
    const gy = this.across(x, y + 1) - this.across(x, y - 1);
    return Math.atan2(gy, gx) + Math.PI / 2;
  }

  /** Paint the fibres over the whole canvas. */
  paint(d: Density): void {
    const { eosin, haematoxylin, thickness, clefts } = this.style;
    for (let y = 0; y < d.height; y++) {
      for (let x = 0; x < d.width; x++) {
        const along = x * this.cos + y * this.sin;
        const across = this.across(x, y);
        // Long, thin noise blobs: bundles that run a few hundred px and then merge or fade.
        const b = this.bundles.fbm(along / (thickness * 9), across / thickness, 2);
        const bundle = smoothstep(-0.35, 0.35, b);
        const fibril = this.fibrils.at(along / 20, across / 1.4);
        const open = clefts * smoothstep(-0.05, -0.4, b);
        const body = (0.3 + 0.7 * bundle) * (1 + 0.3 * fibril) * (1 - 0.9 * open);
        const i = y * d.width + x;
        d.e[i] = eosin * body;
        d.h[i] = haematoxylin * body;
      }
    }
  }
}
