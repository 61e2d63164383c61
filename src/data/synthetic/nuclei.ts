/** Nuclei: elliptical haematoxylin densities with irregular outlines, chromatin texture, an optional
 *  open (vesicular) centre with a darker membrane, and an optional nucleolus. */
import type { Density } from './density.js';
import type { ValueNoise } from './noise.js';

export interface Nucleus {
  x: number;
  y: number;
  /** Semi-axes in px; `a` lies along `angle`. */
  a: number;
  b: number;
  angle: number;
  /** Haematoxylin OD of the chromatin. */
  density: number;
  /** 0 = smooth, 1 = coarsely clumped chromatin. */
  chromatin: number;
  /** 0 = solid, 1 = pale open centre with a dark nuclear membrane (atypical tumour nuclei). */
  vesicular: number;
  /** Relative wobble of the outline, in [0, 1): 0 = ellipse, 0.3 = clearly irregular. */
  irregular: number;
  /** Nucleolus OD (0 = none), drawn slightly off centre. */
  nucleolus: number;
}

/** Draw a nucleus into `d.h` (taking the max, as overlapping nuclei do not sum into black blots) and
 *  add a little eosin, since nuclei also take up some counterstain. `tex` supplies the texture. */
export function stampNucleus(d: Density, n: Nucleus, tex: ValueNoise): void {
  const cos = Math.cos(n.angle);
  const sin = Math.sin(n.angle);
  // The outline wobble divides the radius by up to (1 − irregular), which is how far it can reach.
  const grow = 1 / (1 - n.irregular);
  const reach = n.a * grow + 1.5;
  const x0 = Math.max(0, Math.floor(n.x - reach));
  const x1 = Math.min(d.width - 1, Math.ceil(n.x + reach));
  const y0 = Math.max(0, Math.floor(n.y - reach));
  const y1 = Math.min(d.height - 1, Math.ceil(n.y + reach));
  const invA = 1 / n.a;
  const invB = 1 / n.b;
  // Nucleolus position in the nucleus frame, and its radius relative to the minor axis.
  const nu = n.a * 0.25;
  const nv = -n.b * 0.15;
  const nr2 = Math.max(1, n.b * 0.22) ** 2;
  // Texture phase per nucleus, so identical-looking chromatin does not repeat across neighbours.
  const ox = n.x * 0.37 + 101.3;
  const oy = n.y * 0.37 - 57.9;
  for (let y = y0; y <= y1; y++) {
    const dy = y - n.y;
    for (let x = x0; x <= x1; x++) {
      const dx = x - n.x;
      const u = dx * cos + dy * sin;
      const v = -dx * sin + dy * cos;
      let r = Math.sqrt(u * invA * (u * invA) + v * invB * (v * invB));
      if (r > grow + 1.5 * invB) continue;
      if (n.irregular > 0) r *= 1 + n.irregular * tex.at(ox + u * 0.18, oy + v * 0.18);
      // Anti-aliased edge about one pixel wide.
      const cover = Math.min(1, Math.max(0, (1 - r) * n.b + 0.5));
      if (cover <= 0) continue;
      const rim = r > 0.72 ? 1 : r > 0.55 ? (r - 0.55) / 0.17 : 0;
      let od = n.density * (1 - n.vesicular * 0.6 * (1 - rim));
      od *= 1 + n.chromatin * 0.55 * tex.at(x * 0.55 + ox, y * 0.55 + oy);
      if (n.nucleolus > 0) {
        const du = u - nu;
        const dv = v - nv;
        if (du * du + dv * dv < nr2) od = Math.max(od, n.nucleolus);
      }
      const i = y * d.width + x;
      const value = od * cover;
      if (value > d.h[i]!) d.h[i] = value;
      d.e[i] = d.e[i]! * (1 - 0.4 * cover) + 0.12 * cover;
    }
  }
}
