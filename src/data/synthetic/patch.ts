/** Single patches rendered in memory, for tests and explanations: one class, or one class pasted into
 *  a rectangle of another. */
import { createDensity, pasteDensity, type Density } from './density.js';
import { subRandom } from './rand.js';
import { addSensorNoise, blurDensity, randomScanner, type ScannerParams } from './scanner.js';
import { densityToRgb, randomStain, type StainParams } from './stain.js';
import { renderTissue, type TissueClass } from './tissue.js';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A size × size RGB patch (interleaved, row-major) of class `cls`. The tissue depends only on
 *  (cls, seed); stain and scanner default to ones drawn from the seed, and passing a slide's shows
 *  the same tissue with that slide's look. */
export function renderPatch(
  cls: TissueClass,
  size: number,
  seed: number,
  stain?: StainParams,
  scanner?: ScannerParams,
): Uint8Array {
  return finish(renderTissue(cls, size, size, subRandom(seed, 1)), seed, stain, scanner);
}

export interface ComposeOptions {
  size: number;
  seed: number;
  /** Class filling the patch, or 'glass': an empty slide, no tissue. */
  background: TissueClass | 'glass';
  /** Class pasted inside `rect`. */
  inset: TissueClass;
  rect: Rect;
  stain?: StainParams;
  scanner?: ScannerParams;
}

/** A patch of `background` (or of glass) with `rect` holding `inset` tissue instead: an image where
 *  only a known region carries a class's texture. Pasted before blur, so the border looks scanned, not cut. */
export function composePatch(options: ComposeOptions): Uint8Array {
  const { size, seed, background, inset, rect } = options;
  if (![rect.x, rect.y, rect.width, rect.height].every(Number.isInteger) || rect.width < 1 || rect.height < 1) {
    throw new RangeError(`composePatch: rect must be integers of at least 1×1, got ${JSON.stringify(rect)}`);
  }
  const d =
    background === 'glass' ? createDensity(size, size) : renderTissue(background, size, size, subRandom(seed, 1));
  pasteDensity(d, renderTissue(inset, rect.width, rect.height, subRandom(seed, 2)), rect.x, rect.y);
  return finish(d, seed, options.stain, options.scanner);
}

function finish(d: Density, seed: number, stain?: StainParams, scanner?: ScannerParams): Uint8Array {
  const look = subRandom(seed, 3);
  // Both defaults are drawn even when given, so the noise stream does not depend on what was passed.
  const ownStain = randomStain(look);
  const ownScanner = randomScanner(look);
  blurDensity(d, (scanner ?? ownScanner).blurSigma);
  const rgb = densityToRgb(d, stain ?? ownStain);
  addSensorNoise(rgb, (scanner ?? ownScanner).noiseStd, look);
  return rgb;
}
