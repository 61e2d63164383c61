/** A Kimia-Path24C-style collection on disk: per slide, training patches and test patches cut from
 *  disjoint parts of the slide, the slide itself as a pyramidal tiled TIFF, and a manifest. */
import { SYNTHETIC_GENERATOR } from './provenance.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Random } from '../../util/random.js';
import { subRandom, subSeed } from './rand.js';
import type { ScannerParams } from './scanner.js';
import { writePyramidalTiff } from './pyramidal-tiff.js';
import { GLASS, MICRONS_PER_PIXEL, renderSlide, type Slide } from './slide.js';
import type { StainParams } from './stain.js';
import { TISSUE_CLASSES, type TissueClass } from './tissue.js';

export interface CollectionOptions {
  seed?: number;
  /** Number of slides (default 24). */
  slides?: number;
  /** Side of each square slide in px (default 2048). */
  slideSize?: number;
  /** Side of each square patch in px (default 256). */
  patchSize?: number;
  trainPerSlide?: number;
  testPerSlide?: number;
  /** Slide i shows classes[i % classes.length] (default: all classes in turn). */
  classes?: readonly TissueClass[];
  /** Patches with a larger share of empty glass are skipped (default 0.5). */
  maxGlass?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PatchRecord {
  /** Relative to the collection folder. */
  file: string;
  /** Top-left corner at level 0 of the slide. */
  x: number;
  y: number;
}

export interface SlideRecord {
  id: string;
  class: TissueClass;
  seed: number;
  width: number;
  height: number;
  tiff: string;
  stain: StainParams;
  scanner: ScannerParams;
  classFractions: Record<TissueClass, number>;
  glassFraction: number;
  /** Test patches lie inside this band; training patches never touch it. */
  testRegion: { x: number; y: number; width: number; height: number };
  train: PatchRecord[];
  test: PatchRecord[];
}

export interface CollectionSummary {
  outDir: string;
  manifest: string;
  slides: Array<{ id: string; class: TissueClass; tiff: string; train: number; test: number }>;
  trainPatches: number;
  testPatches: number;
}

/** Share of the slide height held out for test patches. */
const TEST_BAND = 0.2;
/** Give up on a slide's remaining patches after this many rejected positions per requested patch. */
const TRIES_PER_PATCH = 50;

export async function writeKimiaCollection(
  outDir: string,
  options: CollectionOptions = {},
): Promise<CollectionSummary> {
  const settings = {
    seed: options.seed ?? 1,
    slides: options.slides ?? 24,
    slideSize: options.slideSize ?? 2048,
    patchSize: options.patchSize ?? 256,
    trainPerSlide: options.trainPerSlide ?? 100,
    testPerSlide: options.testPerSlide ?? 20,
    classes: [...(options.classes ?? TISSUE_CLASSES)],
    maxGlass: options.maxGlass ?? 0.5,
  };
  const { slides, slideSize, patchSize } = settings;
  if (!Number.isInteger(slides) || slides < 1) throw new RangeError(`slides must be a positive integer, got ${slides}`);
  if (settings.classes.length === 0) throw new RangeError('classes must not be empty');
  for (const key of ['trainPerSlide', 'testPerSlide'] as const) {
    const n = settings[key];
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${key} must be a non-negative integer, got ${n}`);
  }
  if (!Number.isInteger(patchSize) || patchSize < 1)
    throw new RangeError(`patchSize must be a positive integer, got ${patchSize}`);
  if (!Number.isInteger(slideSize) || slideSize < 3 * patchSize) {
    throw new RangeError(`slideSize must be an integer of at least 3 × patchSize (${3 * patchSize}), got ${slideSize}`);
  }
  for (const dir of ['train', 'test']) {
    for (let s = 0; s < slides; s++) await mkdir(join(outDir, dir, `s${s}`), { recursive: true });
  }
  await mkdir(join(outDir, 'slides'), { recursive: true });

  const records: SlideRecord[] = [];
  let writing: Promise<void> | undefined;
  for (let s = 0; s < slides; s++) {
    const id = `s${s}`;
    const seed = subSeed(settings.seed, s);
    const cls = settings.classes[s % settings.classes.length]!;
    // Rendering runs on this thread while sharp encodes the previous slide on its own threads. Nothing
    // awaits between starting `writing` and awaiting it, so its failure cannot go unhandled.
    const slide = renderSlide({ cls, seed, width: slideSize, height: slideSize });
    const record = samplePatches(slide, id, seed, settings);
    records.push(record);
    await writing;
    writing = writeSlideFiles(outDir, slide, record, patchSize).then(() => options.onProgress?.(s + 1, slides));
  }
  await writing;

  const manifest = join(outDir, 'manifest.json');
  const { seed, ...rest } = settings;
  const manifestBody = {
    generator: SYNTHETIC_GENERATOR,
    seed,
    options: rest,
    micronsPerPixel: MICRONS_PER_PIXEL,
    classes: TISSUE_CLASSES,
    slides: records,
  };
  await writeFile(manifest, JSON.stringify(manifestBody, null, 1) + '\n');
  // Each slide's tissue class, for `histoseek index --layout slides --labels`.
  await writeFile(
    join(outDir, 'slides', 'labels.csv'),
    `slide,label\n${records.map((r) => `${r.id},${r.class}`).join('\n')}\n`,
  );
  return {
    outDir,
    manifest,
    slides: records.map((r) => ({
      id: r.id,
      class: r.class,
      tiff: r.tiff,
      train: r.train.length,
      test: r.test.length,
    })),
    trainPatches: records.reduce((n, r) => n + r.train.length, 0),
    testPatches: records.reduce((n, r) => n + r.test.length, 0),
  };
}

interface Sampling {
  patchSize: number;
  trainPerSlide: number;
  testPerSlide: number;
  maxGlass: number;
}

/** Choose patch positions: test patches inside a horizontal band, training patches wholly above or
 *  below it, both skipping positions that are mostly glass. */
function samplePatches(slide: Slide, id: string, seed: number, sampling: Sampling): SlideRecord {
  const { width, height } = slide;
  const ps = sampling.patchSize;
  const rng = subRandom(seed, 6);
  const bandHeight = Math.max(ps, Math.round(TEST_BAND * height));
  // Leave at least one patch height of training rows on each side of the band.
  const bandY = ps + rng.int(height - bandHeight - 2 * ps + 1);
  const glass = glassIntegral(slide);
  const at = (x: number, y: number) => glass[y * (width + 1) + x]!;
  const glassIn = (x: number, y: number) => at(x + ps, y + ps) - at(x + ps, y) - at(x, y + ps) + at(x, y);
  const limit = sampling.maxGlass * ps * ps;

  const pick = (count: number, split: 'train' | 'test', row: (rng: Random) => number): PatchRecord[] => {
    const out: PatchRecord[] = [];
    for (let tries = 0; out.length < count && tries < TRIES_PER_PATCH * count; tries++) {
      const x = rng.int(width - ps + 1);
      const y = row(rng);
      if (glassIn(x, y) > limit) continue;
      out.push({ file: `${split}/${id}/${id}_${String(out.length).padStart(3, '0')}.png`, x, y });
    }
    return out;
  };
  const above = bandY - ps + 1;
  const below = height - ps - (bandY + bandHeight) + 1;
  const train = pick(sampling.trainPerSlide, 'train', (r) => {
    const k = r.int(above + below);
    return k < above ? k : bandY + bandHeight + (k - above);
  });
  const test = pick(sampling.testPerSlide, 'test', (r) => bandY + r.int(bandHeight - ps + 1));
  return {
    id,
    class: slide.cls,
    seed,
    width,
    height,
    tiff: `slides/${id}.tiff`,
    stain: slide.stain,
    scanner: slide.scanner,
    classFractions: slide.classFractions,
    glassFraction: slide.glassFraction,
    testRegion: { x: 0, y: bandY, width, height: bandHeight },
    train,
    test,
  };
}

/** Summed-area table of the glass mask, (width + 1) × (height + 1), for O(1) glass counts per patch. */
function glassIntegral(slide: Slide): Int32Array {
  const { width, height, labels } = slide;
  const stride = width + 1;
  const table = new Int32Array(stride * (height + 1));
  for (let y = 0; y < height; y++) {
    let run = 0;
    for (let x = 0; x < width; x++) {
      if (labels[y * width + x] === GLASS) run++;
      table[(y + 1) * stride + x + 1] = table[y * stride + x + 1]! + run;
    }
  }
  return table;
}

async function writeSlideFiles(outDir: string, slide: Slide, record: SlideRecord, ps: number): Promise<void> {
  const raw = { width: slide.width, height: slide.height, channels: 3 as const };
  const tiff = writePyramidalTiff(sharp(slide.rgb, { raw }), join(outDir, record.tiff));
  const patches = [...record.train, ...record.test].map((p) =>
    sharp(crop(slide, p.x, p.y, ps), { raw: { width: ps, height: ps, channels: 3 } })
      .png()
      .toFile(join(outDir, p.file)),
  );
  await Promise.all([tiff, ...patches]);
}

function crop(slide: Slide, x0: number, y0: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const from = ((y0 + y) * slide.width + x0) * 3;
    out.set(slide.rgb.subarray(from, from + size * 3), y * size * 3);
  }
  return out;
}
