/** Collagen fibres: wavy eosinophilic bundles separated by pale clefts, with fine fibrils along them.
 *  A sinusoid across the main direction gives the bundles; warping its phase with smooth noise makes
 *  them wave and merge; noise stretched along the bundles gives the fibrillar streaks. */
import type { Random } from '../../util/random.js';
import type { Density } from './density.js';
import { ValueNoise, smoothstep } from './noise.js';
import { between } from './rand.js';

export interface FibreStyle {
  /** Eosin OD of a dense bundle. */
  eosin: number;
  /** Haematoxylin OD of the collagen background (counterstain). */
  haematoxylin: number;
  /** Distance between bundles in px. */
  spacing: number;
  /** Phase warp in radians: 0 = straight parallel bundles. */
  waviness: number;
  /** 0..1: how much of the space between bundles opens into white clefts. */
  clefts: number;
}

export class FibreField {
  private readonly warp: ValueNoise;
  private readonly fibrils: ValueNoise;
  private readonly gaps: ValueNoise;
  private readonly cos: number;
  private readonly sin: number;
  private readonly k: number;

  constructor(
    rng: Random,
    readonly style: FibreStyle,
  ) {
    this.warp = new ValueNoise(rng);
    this.fibrils = new ValueNoise(rng);
    this.gaps = new ValueNoise(rng);
    const angle = between(rng, 0, Math.PI);
    this.cos = Math.cos(angle);
    this.sin = Math.sin(angle);
    this.k = (2 * Math.PI) / style.spacing;
  }

  private phase(x: number, y: number): number {
    const across = -x * this.sin + y * this.cos;
    return across * this.k + this.style.waviness * this.warp.fbm(x / 260, y / 260, 3);
  }

  /** Local bundle direction (radians), to align spindle nuclei with the fibres around them. */
  angleAt(x: number, y: number): number {
    const gx = this.phase(x + 1, y) - this.phase(x - 1, y);
    const gy = this.phase(x, y + 1) - this.phase(x, y - 1);
    return Math.atan2(gy, gx) + Math.PI / 2;
  }

  /** Paint the fibres over the whole canvas, or where `mask` is nonzero. */
  paint(d: Density, mask?: Uint8Array): void {
    const { eosin, haematoxylin, clefts } = this.style;
    for (let y = 0; y < d.height; y++) {
      for (let x = 0; x < d.width; x++) {
        const i = y * d.width + x;
        if (mask && mask[i] === 0) continue;
        const phase = this.phase(x, y);
        const bundle = smoothstep(-0.6, 0.7, Math.sin(phase));
        const along = x * this.cos + y * this.sin;
        // The warped across-coordinate (phase / k) makes the fibrils follow the waving bundles.
        const fibril = this.fibrils.at(along / 22, phase / this.k / 1.6);
        const open = clefts * smoothstep(0.0, 0.45, this.gaps.fbm(x / 90, y / 90, 2)) * (1 - bundle);
        const body = (0.35 + 0.65 * bundle) * (1 + 0.3 * fibril) * (1 - 0.92 * open);
        d.e[i] = eosin * body;
        d.h[i] = haematoxylin * body;
      }
    }
  }
}
