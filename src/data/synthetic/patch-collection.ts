/** Single rendered patches as a folder-layout collection (DIR/<class>/*.png, label = folder), for learning
 *  tissue classes rather than slides: every patch has its own stain and scanner look and its own field of
 *  view, and most hold a rectangle of another class covering less than half of it — so a class is its
 *  texture over most of a patch, not one slide's colour and not only pure tissue. */
import { SYNTHETIC_GENERATOR } from './provenance.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { composePatch, renderPatch, type Rect } from './patch.js';
import { between, subRandom, subSeed } from './rand.js';
import { randomScanner, type ScannerParams } from './scanner.js';
import { randomStain, type StainParams } from './stain.js';
import { TISSUE_CLASSES, type TissueClass } from './tissue.js';

export interface PatchCollectionOptions {
  seed?: number;
  /** Patches per class (default 400). */
  perClass?: number;
  /** Sides of the patches in px at 0.5 µm/px, drawn from this range (default 128–256): a model that
   *  resizes them to its input sees the tissue over a range of magnifications, as it does on slides. */
  minSize?: number;
  maxSize?: number;
  /** Share of patches that hold a rectangle of another class (default 0.6). */
  mixedShare?: number;
  /** Largest share of a patch's area that rectangle covers (default 0.45); the smallest is 0.1. Below
   *  one half, so the folder's class always covers most of the patch. */
  maxInsetArea?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface RenderedPatchRecord {
  /** Relative to the collection folder. */
  file: string;
  class: TissueClass;
  seed: number;
  size: number;
  inset: { class: TissueClass; rect: Rect } | null;
  stain: StainParams;
  scanner: ScannerParams;
}

const MIN_INSET_AREA = 0.1;
/** Smallest side of an inset in px: narrower strips hold no recognisable tissue. */
const MIN_INSET_SIDE = 8;

export async function writePatchCollection(
  outDir: string,
  options: PatchCollectionOptions = {},
): Promise<{ manifest: string; patches: number }> {
  const settings = {
    seed: options.seed ?? 1,
    perClass: options.perClass ?? 400,
    minSize: options.minSize ?? 128,
    maxSize: options.maxSize ?? 256,
    mixedShare: options.mixedShare ?? 0.6,
    maxInsetArea: options.maxInsetArea ?? 0.45,
  };
  const { perClass, minSize, maxSize, mixedShare, maxInsetArea } = settings;
  if (!Number.isInteger(perClass) || perClass < 1)
    throw new RangeError(`perClass must be a positive integer, got ${perClass}`);
  if (!Number.isInteger(minSize) || !Number.isInteger(maxSize) || minSize < 2 * MIN_INSET_SIDE || maxSize < minSize) {
    throw new RangeError(
      `patch sides must be integers with ${2 * MIN_INSET_SIDE} ≤ minSize ≤ maxSize, got ${minSize}–${maxSize}`,
    );
  }
  if (!(mixedShare >= 0 && mixedShare <= 1)) throw new RangeError(`mixedShare must be in [0, 1], got ${mixedShare}`);
  if (!(maxInsetArea >= MIN_INSET_AREA && maxInsetArea < 0.5))
    throw new RangeError(`maxInsetArea must be in [${MIN_INSET_AREA}, 0.5), got ${maxInsetArea}`);

  const records: RenderedPatchRecord[] = [];
  for (const [k, cls] of TISSUE_CLASSES.entries()) {
    await mkdir(join(outDir, cls), { recursive: true });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < perClass; i++) {
      const seed = subSeed(settings.seed, k, i);
      const rng = subRandom(seed, 7);
      const size = minSize + rng.int(maxSize - minSize + 1);
      const stain = randomStain(rng);
      const scanner = randomScanner(rng);
      let inset: RenderedPatchRecord['inset'] = null;
      if (rng.uniform() < mixedShare) {
        const others = TISSUE_CLASSES.filter((c) => c !== cls);
        const area = between(rng, MIN_INSET_AREA, maxInsetArea) * size * size;
        const aspect = Math.exp(between(rng, -0.6, 0.6));
        const width = Math.min(size, Math.max(MIN_INSET_SIDE, Math.round(Math.sqrt(area * aspect))));
        // Rounded down, so the inset never reaches half the patch.
        const height = Math.min(size, Math.max(MIN_INSET_SIDE, Math.floor(area / width)));
        inset = {
          class: others[rng.int(others.length)]!,
          rect: { x: rng.int(size - width + 1), y: rng.int(size - height + 1), width, height },
        };
      }
      const pixels = inset
        ? composePatch({ size, seed, background: cls, inset: inset.class, rect: inset.rect, stain, scanner })
        : renderPatch(cls, size, seed, stain, scanner);
      const file = `${cls}/${cls}_${String(i).padStart(4, '0')}.png`;
      records.push({ file, class: cls, seed, size, inset, stain, scanner });
      writes.push(
        sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toFile(join(outDir, file)),
      );
    }
    await Promise.all(writes);
    options.onProgress?.(k + 1, TISSUE_CLASSES.length);
  }
  const manifest = join(outDir, 'manifest.json');
  const { seed, ...rest } = settings;
  await writeFile(
    manifest,
    JSON.stringify(
      { generator: `${SYNTHETIC_GENERATOR} patches`, seed, options: rest, classes: TISSUE_CLASSES, patches: records },
      null,
      1,
    ) + '\n',
  );
  return { manifest, patches: records.length };
}
