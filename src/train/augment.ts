/**
 * Training augmentations (docs/model.md#training-recipe) on S×S RGB patches: the eight flips/rotations, Gaussian blur,
 * median blur (≤ 5), and an optional stain jitter in optical-density space.
 */
import sharp from 'sharp';
import type { Random } from '../util/random.js';
import type { AugmentConfig } from './config.js';

export interface ViewRecipe {
  /** 0–3 quarter turns, then a horizontal flip when `flip`: the 8 elements of the dihedral group. */
  quarterTurns: number;
  flip: boolean;
  gaussianSigma: number | null;
  medianSize: number | null;
  /** Multipliers of the haematoxylin and eosin densities. */
  stain: [number, number] | null;
}

export const IDENTITY_VIEW: ViewRecipe = {
  quarterTurns: 0,
  flip: false,
  gaussianSigma: null,
  medianSize: null,
  stain: null,
};

/**
 * The recipes of an image's cached views. View 0 is always the untouched image (validation and
 * retrieval use it). With flips or rotations on, views 1…V−1 walk through the other dihedral
 * elements in turn; blur and stain jitter are drawn per view with the configured probabilities.
 */
export function viewRecipes(aug: AugmentConfig, random: Random): ViewRecipe[] {
  const dihedral = aug.vflip > 0 || aug.hflip > 0 || aug.rot90 > 0;
  const recipes = [IDENTITY_VIEW];
  for (let v = 1; v < aug.views; v++) {
    const element = dihedral ? v % 8 : 0;
    recipes.push({
      quarterTurns: element % 4,
      flip: element >= 4,
      gaussianSigma: random.uniform() < aug.gaussianBlur ? 0.1 + 1.9 * random.uniform() : null,
      medianSize: random.uniform() < aug.medianBlur ? (random.uniform() < 0.5 ? 3 : 5) : null,
      stain:
        aug.stainJitter > 0
          ? [1 + aug.stainJitter * (2 * random.uniform() - 1), 1 + aug.stainJitter * (2 * random.uniform() - 1)]
          : null,
    });
  }
  return recipes;
}

/** Rotates by quarter turns (counter-clockwise) and optionally mirrors a size×size RGB image. */
function dihedral(pixels: Uint8Array, size: number, quarterTurns: number, flip: boolean): Uint8Array {
  if (quarterTurns === 0 && !flip) return pixels;
  const out = new Uint8Array(pixels.length);
  const last = size - 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let [sx, sy] = [flip ? last - x : x, y];
      for (let t = 0; t < quarterTurns; t++) [sx, sy] = [last - sy, sx];
      const src = 3 * (sy * size + sx);
      const dst = 3 * (y * size + x);
      out[dst] = pixels[src];
      out[dst + 1] = pixels[src + 1];
      out[dst + 2] = pixels[src + 2];
    }
  }
  return out;
}

// Ruifrok & Johnston's H and E optical-density vectors (RGB), for a rough colour deconvolution.
const H = [0.65, 0.7, 0.29];
const E = [0.07, 0.99, 0.11];

/** Scales the H and E densities of every pixel (least-squares deconvolution onto the two stains). */
function jitterStain(pixels: Uint8Array, [h, e]: [number, number]): Uint8Array {
  const out = new Uint8Array(pixels.length);
  const hh = H[0] * H[0] + H[1] * H[1] + H[2] * H[2];
  const ee = E[0] * E[0] + E[1] * E[1] + E[2] * E[2];
  const he = H[0] * E[0] + H[1] * E[1] + H[2] * E[2];
  const det = hh * ee - he * he;
  for (let i = 0; i < pixels.length; i += 3) {
    const od = [0, 1, 2].map((c) => -Math.log((pixels[i + c] + 1) / 256));
    const dh = od[0] * H[0] + od[1] * H[1] + od[2] * H[2];
    const de = od[0] * E[0] + od[1] * E[1] + od[2] * E[2];
    const ch = (ee * dh - he * de) / det;
    const ce = (hh * de - he * dh) / det;
    for (let c = 0; c < 3; c++) {
      const residual = od[c] - ch * H[c] - ce * E[c];
      const value = 256 * Math.exp(-(ch * h * H[c] + ce * e * E[c] + residual)) - 1;
      out[i + c] = Math.max(0, Math.min(255, Math.round(value)));
    }
  }
  return out;
}

/** Applies a recipe, in the order of docs/model.md#training-recipe: flips/rotation, Gaussian blur, median blur; stain jitter last. */
export async function applyView(pixels: Uint8Array, size: number, recipe: ViewRecipe): Promise<Uint8Array> {
  let out = dihedral(pixels, size, recipe.quarterTurns, recipe.flip);
  if (recipe.gaussianSigma !== null || recipe.medianSize !== null) {
    let image = sharp(out, { raw: { width: size, height: size, channels: 3 } });
    if (recipe.gaussianSigma !== null) image = image.blur(Math.max(0.3, recipe.gaussianSigma));
    if (recipe.medianSize !== null) image = image.median(recipe.medianSize);
    out = new Uint8Array(await image.raw().toBuffer());
  }
  return recipe.stain ? jitterStain(out, recipe.stain) : out;
}
