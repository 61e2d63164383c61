/** Per-slide staining and its conversion to colour by Beer–Lambert: I = I0 · exp(−(c_H·OD_H·h + c_E·OD_E·e)),
 *  with unit RGB optical-density vectors h and e jittered around standard H&E, per-slide stain
 *  concentrations c_H, c_E and a slightly tinted illuminant I0. */
import type { Random } from '../../util/random.js';
import type { Density } from './density.js';
import { between } from './rand.js';

export type Rgb = [number, number, number];

export interface StainParams {
  /** Unit RGB OD vector of haematoxylin. */
  haematoxylin: Rgb;
  /** Unit RGB OD vector of eosin. */
  eosin: Rgb;
  /** Concentration multipliers (staining strength) of each stain. */
  haematoxylinScale: number;
  eosinScale: number;
  /** Transmitted light through empty glass, per channel. */
  white: Rgb;
}

/** Ruifrok & Johnston's haematoxylin OD vector. Their eosin vector (0.07, 0.99, 0.11) renders
 *  magenta; eosin on scanned slides absorbs more blue (Macenko et al.'s reference is about
 *  (0.22, 0.80, 0.56)), so the eosin used here lies between the two and reads as H&E pink. */
export const STANDARD_HAEMATOXYLIN: Rgb = unit([0.65, 0.7, 0.29]);
export const STANDARD_EOSIN: Rgb = unit([0.1, 0.88, 0.46]);

export const DEFAULT_STAIN: StainParams = {
  haematoxylin: STANDARD_HAEMATOXYLIN,
  eosin: STANDARD_EOSIN,
  haematoxylinScale: 1,
  eosinScale: 1,
  white: [250, 250, 250],
};

function unit(v: Rgb): Rgb {
  const n = Math.hypot(v[0], v[1], v[2]);
  return [v[0] / n, v[1] / n, v[2] / n];
}

function jitter(rng: Random, v: Rgb, amount: number): Rgb {
  return unit([
    Math.max(0.01, v[0] + amount * rng.normal()),
    Math.max(0.01, v[1] + amount * rng.normal()),
    Math.max(0.01, v[2] + amount * rng.normal()),
  ]);
}

/** A slide's staining: what differs between two labs' or two days' H&E runs. */
export function randomStain(rng: Random): StainParams {
  const base = between(rng, 238, 252);
  return {
    haematoxylin: jitter(rng, STANDARD_HAEMATOXYLIN, 0.06),
    eosin: jitter(rng, STANDARD_EOSIN, 0.06),
    haematoxylinScale: between(rng, 0.75, 1.25),
    eosinScale: between(rng, 0.7, 1.3),
    white: [base + between(rng, -4, 3), base + between(rng, -3, 3), base + between(rng, -2, 4)],
  };
}

/** Beer–Lambert conversion to interleaved RGB. */
export function densityToRgb(d: Density, stain: StainParams): Uint8Array {
  const n = d.width * d.height;
  // Uint8ClampedArray rounds and clamps on store, which is exactly the quantisation wanted.
  const out = new Uint8ClampedArray(3 * n);
  const hs = stain.haematoxylinScale;
  const es = stain.eosinScale;
  const [hr, hg, hb] = stain.haematoxylin;
  const [er, eg, eb] = stain.eosin;
  const [wr, wg, wb] = stain.white;
  for (let i = 0; i < n; i++) {
    const h = hs * d.h[i]!;
    const e = es * d.e[i]!;
    out[3 * i] = wr * Math.exp(-(h * hr + e * er));
    out[3 * i + 1] = wg * Math.exp(-(h * hg + e * eg));
    out[3 * i + 2] = wb * Math.exp(-(h * hb + e * eb));
  }
  return new Uint8Array(out.buffer);
}
