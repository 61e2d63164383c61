/**
 * Cutting a slide into fixed-size patches at a chosen physical resolution, keeping those on tissue.
 * A plan (grid, level, read size) is cheap to make and enumerate; `tiles` streams the pixels with a few
 * reads in flight at once, so memory stays bounded by the patch size whatever the slide size.
 */
import sharp from 'sharp';
import { LEVEL_SLACK } from './slide.js';
import type { Slide } from './types.js';
import { fractionInBox, tissueMask, type TissueMask } from './tissue-mask.js';

/** A level-0 rectangle of a slide, in pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TileOptions {
  /** Side of each patch in pixels (default 224). */
  patchSize?: number;
  /**
   * Microns per patch pixel (default 0.5). A slide without a resolution is taken to be at the target
   * already: patches are then cut at level-0 scale (target px = level-0 px).
   */
  targetMpp?: number;
  /** Step between patches in target pixels (default patchSize: adjacent, no overlap). */
  stride?: number;
  /** Smallest tissue share of a patch to keep it (default 0.5); 0 keeps every patch and needs no mask. */
  minTissue?: number;
  /** Tissue mask; computed with tissueMask(slide) when needed and not given. */
  mask?: TissueMask;
  /** Region of interest in level-0 pixels; only patches wholly inside it (and the slide) are cut. */
  roi?: Box;
  /** Reads in flight at once (default 4, libuv's thread-pool size). */
  concurrency?: number;
}

export interface Tile {
  /** Top-left corner, level-0 pixels. */
  x: number;
  y: number;
  /** Extent in level-0 pixels. */
  width: number;
  height: number;
  /** Level the pixels were read from. */
  level: number;
  /** patchSize × patchSize × 3 bytes, RGB, row-major. */
  pixels: Uint8Array;
}

/** Where the patches come from: one grid, one level and one read size for all of them. */
export interface TilePlan {
  patchSize: number;
  /** Microns per patch pixel, and the tissue share a patch needed: the options as resolved. */
  targetMpp: number;
  minTissue: number;
  /** Level-0 extent of each patch. */
  width: number;
  height: number;
  level: number;
  /** Size read from `level`, resized to patchSize × patchSize when different. */
  readWidth: number;
  readHeight: number;
  /** Top-left corners (level-0) of the patches to cut, row by row. */
  positions(): Generator<{ x: number; y: number }>;
  /** How many positions there are (walks the grid; no pixels read). */
  count(): number;
  /** The tissue mask patches were kept by (none when minTissue is 0): why a slide gave none is read from it. */
  mask?: TissueMask;
}

function positiveNumber(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

/** Plans the tiling: the mask is computed here when one is needed and missing, the only slow step. */
export async function planTiles(slide: Slide, options: TileOptions = {}): Promise<TilePlan> {
  const patchSize = options.patchSize ?? 224;
  if (!Number.isInteger(patchSize) || patchSize < 1)
    throw new RangeError(`patchSize must be a positive integer, got ${patchSize}`);
  const targetMpp = positiveNumber('targetMpp', options.targetMpp ?? 0.5);
  const stride = positiveNumber('stride', options.stride ?? patchSize);
  const minTissue = options.minTissue ?? 0.5;
  if (!(minTissue >= 0 && minTissue <= 1)) throw new RangeError(`minTissue must be within [0, 1], got ${minTissue}`);
  const mask = minTissue > 0 ? (options.mask ?? (await tissueMask(slide))) : undefined;

  // Level-0 pixels per target pixel, per axis.
  const scaleX = slide.mpp ? targetMpp / slide.mpp.x : 1;
  const scaleY = slide.mpp ? targetMpp / slide.mpp.y : 1;
  const width = Math.max(1, Math.round(patchSize * scaleX));
  const height = Math.max(1, Math.round(patchSize * scaleY));
  const level = slide.bestLevelForDownsample((Math.min(width, height) / patchSize) * LEVEL_SLACK);
  const levelDownsample = slide.levels[level]!.downsample;
  const readWidth = Math.max(1, Math.round(width / levelDownsample));
  const readHeight = Math.max(1, Math.round(height / levelDownsample));

  const { width: slideWidth, height: slideHeight } = slide.levels[0]!;
  const roi = options.roi ?? { x: 0, y: 0, width: slideWidth, height: slideHeight };
  if (![roi.x, roi.y, roi.width, roi.height].every(Number.isFinite) || roi.width <= 0 || roi.height <= 0) {
    throw new RangeError(`roi must be finite with a positive size, got ${JSON.stringify(roi)}`);
  }
  const left = Math.max(0, roi.x);
  const top = Math.max(0, roi.y);
  const right = Math.min(slideWidth, roi.x + roi.width);
  const bottom = Math.min(slideHeight, roi.y + roi.height);
  const stepX = stride * scaleX;
  const stepY = stride * scaleY;

  function* positions(): Generator<{ x: number; y: number }> {
    for (let j = 0; ; j++) {
      const y = top + Math.round(j * stepY);
      if (y + height > bottom) return;
      for (let i = 0; ; i++) {
        const x = left + Math.round(i * stepX);
        if (x + width > right) break;
        if (mask && fractionInBox(mask, x, y, width, height) < minTissue) continue;
        yield { x, y };
      }
    }
  }
  const count = () => {
    let n = 0;
    for (const _ of positions()) n++;
    return n;
  };
  return { patchSize, targetMpp, minTissue, width, height, level, readWidth, readHeight, positions, count, mask };
}

/** How many patches `tiles` will give with these options (for progress bars). */
export async function countTiles(slide: Slide, options: TileOptions = {}): Promise<number> {
  return (await planTiles(slide, options)).count();
}

/** Reads and, when the level does not match the target resolution exactly, resizes one patch. */
async function readTile(slide: Slide, plan: TilePlan, x: number, y: number): Promise<Tile> {
  const { patchSize, readWidth, readHeight, level } = plan;
  const raw = await slide.readRegion(x, y, level, readWidth, readHeight);
  const pixels =
    readWidth === patchSize && readHeight === patchSize
      ? raw
      : await sharp(raw, { raw: { width: readWidth, height: readHeight, channels: 3 } })
          .resize(patchSize, patchSize, { fit: 'fill' })
          .raw()
          .toBuffer();
  return { x, y, width: plan.width, height: plan.height, level, pixels };
}

/**
 * The slide's patches, row by row, in order. Up to `concurrency` are read ahead; stopping the loop
 * early abandons them safely (the slide stays open until they finish).
 */
export async function* tiles(slide: Slide, options: TileOptions = {}): AsyncGenerator<Tile> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const plan = await planTiles(slide, options);
  const pending: Promise<Tile>[] = [];
  const next = plan.positions();
  for (;;) {
    while (pending.length < concurrency) {
      const position = next.next();
      if (position.done) break;
      const read = readTile(slide, plan, position.value.x, position.value.y);
      // A read ahead may fail while an earlier one is awaited: it is reported when its turn comes.
      read.catch(() => undefined);
      pending.push(read);
    }
    const head = pending.shift();
    if (!head) return;
    yield await head;
  }
}
