/** A virtual slide: one dominant tissue class with a few small regions of others, a ragged margin of
 *  empty glass, and one stain and scanner look shared by every pixel. */
import type { Random } from '../../util/random.js';
import { pasteDensity } from './density.js';
import { ValueNoise } from './noise.js';
import { between, subRandom } from './rand.js';
import { addSensorNoise, blurDensity, randomScanner, type ScannerParams } from './scanner.js';
import { densityToRgb, randomStain, type StainParams } from './stain.js';
import { TISSUE_CLASSES, renderTissue, type TissueClass } from './tissue.js';

/** Label of empty glass in `Slide.labels`; tissue pixels hold their index in TISSUE_CLASSES. */
export const GLASS = 255;

/** Nominal resolution of the generated slides (20× objective). */
export const MICRONS_PER_PIXEL = 0.5;

/** Minor regions together take at most this share of the tissue, so the slide's class dominates. */
const MINOR_BUDGET = 0.25;

export interface SlideOptions {
  cls: TissueClass;
  seed: number;
  width?: number;
  height?: number;
}

export interface Slide {
  cls: TissueClass;
  width: number;
  height: number;
  /** Interleaved RGB, row-major. */
  rgb: Uint8Array;
  /** Per pixel: index into TISSUE_CLASSES, or GLASS. */
  labels: Uint8Array;
  stain: StainParams;
  scanner: ScannerParams;
  /** Share of the tissue (glass excluded) covered by each class. */
  classFractions: Record<TissueClass, number>;
  /** Share of the whole slide that is empty glass. */
  glassFraction: number;
}

interface Region {
  cls: TissueClass;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function renderSlide(options: SlideOptions): Slide {
  const { cls, seed } = options;
  const width = options.width ?? 2048;
  const height = options.height ?? width;
  const look = subRandom(seed, 1);
  const stain = randomStain(look);
  const scanner = randomScanner(look);

  const layout = subRandom(seed, 2);
  const labels = new Uint8Array(width * height).fill(TISSUE_CLASSES.indexOf(cls));
  markGlass(labels, width, height, layout);
  const regions = placeMinorRegions(labels, width, height, cls, layout);

  const d = renderTissue(cls, width, height, subRandom(seed, 3));
  regions.forEach((r, k) => {
    const label = TISSUE_CLASSES.indexOf(r.cls);
    const tissue = renderTissue(r.cls, r.x1 - r.x0, r.y1 - r.y0, subRandom(seed, 4, k));
    pasteDensity(d, tissue, r.x0, r.y0, (i) => labels[i] === label);
  });
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === GLASS) d.h[i] = d.e[i] = 0;
  }

  blurDensity(d, scanner.blurSigma);
  const rgb = densityToRgb(d, stain);
  addSensorNoise(rgb, scanner.noiseStd, subRandom(seed, 5));
  return { cls, width, height, rgb, labels, stain, scanner, ...measure(labels) };
}

/** Glass along the edges: the tissue is a rounded square (superellipse |u|⁶ + |v|⁶ < r⁶ in
 *  coordinates scaled to [−1, 1]) whose radius is ragged by noise, so the piece looks cut, not drawn. */
function markGlass(labels: Uint8Array, width: number, height: number, rng: Random): void {
  const inset = between(rng, 0.03, 0.06);
  const ragged = new ValueNoise(rng);
  const amplitude = 0.05;
  // Inside the smallest radius the noise can reach, everything is tissue: skip the noise there.
  const sure = (1 - inset - amplitude) ** 6;
  for (let y = 0; y < height; y++) {
    const v = (2 * y) / (height - 1) - 1;
    for (let x = 0; x < width; x++) {
      const u = (2 * x) / (width - 1) - 1;
      const u2 = u * u;
      const v2 = v * v;
      const p = u2 * u2 * u2 + v2 * v2 * v2;
      if (p < sure) continue;
      const r2 = (1 - inset + amplitude * ragged.fbm(u * 2.5, v * 2.5, 4)) ** 2;
      if (p > r2 * r2 * r2) labels[y * width + x] = GLASS;
    }
  }
}

/** One to three blobs of other classes, each kept only while the minor classes stay within budget. */
function placeMinorRegions(
  labels: Uint8Array,
  width: number,
  height: number,
  dominant: TissueClass,
  rng: Random,
): Region[] {
  const side = Math.min(width, height);
  const others = TISSUE_CLASSES.filter((c) => c !== dominant);
  const dominantLabel = TISSUE_CLASSES.indexOf(dominant);
  let tissue = 0;
  for (const l of labels) if (l !== GLASS) tissue++;
  let budget = Math.floor(MINOR_BUDGET * tissue);
  const regions: Region[] = [];
  const count = 1 + rng.int(3);
  for (let k = 0; k < count; k++) {
    const cls = others[rng.int(others.length)]!;
    const radius = side * between(rng, 0.07, 0.14);
    const cx = width * between(rng, 0.2, 0.8);
    const cy = height * between(rng, 0.2, 0.8);
    const outline = new ValueNoise(rng);
    // The noise can push the outline out to 1.5 radii.
    const x0 = Math.max(0, Math.floor(cx - 1.5 * radius));
    const x1 = Math.min(width, Math.ceil(cx + 1.5 * radius));
    const y0 = Math.max(0, Math.floor(cy - 1.5 * radius));
    const y1 = Math.min(height, Math.ceil(cy + 1.5 * radius));
    const taken: number[] = [];
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = y * width + x;
        if (labels[i] !== dominantLabel) continue;
        const r = Math.hypot(x - cx, y - cy) / radius;
        if (r + 0.45 * outline.fbm(x / (0.5 * radius), y / (0.5 * radius), 3) < 1) taken.push(i);
      }
    }
    if (taken.length === 0 || taken.length > budget) continue;
    budget -= taken.length;
    const label = TISSUE_CLASSES.indexOf(cls);
    for (const i of taken) labels[i] = label;
    regions.push({ cls, x0, y0, x1, y1 });
  }
  return regions;
}

function measure(labels: Uint8Array): Pick<Slide, 'classFractions' | 'glassFraction'> {
  const counts = new Array<number>(TISSUE_CLASSES.length).fill(0);
  let glass = 0;
  for (const l of labels) {
    if (l === GLASS) glass++;
    else counts[l]!++;
  }
  const tissue = labels.length - glass;
  const classFractions = Object.fromEntries(
    TISSUE_CLASSES.map((c, k) => [c, tissue > 0 ? counts[k]! / tissue : 0]),
  ) as Record<TissueClass, number>;
  return { classFractions, glassFraction: glass / labels.length };
}
