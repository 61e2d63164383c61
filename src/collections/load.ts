/** Pixels of a collection item: an image file, a row of a PanNuke array, or a patch of a whole-slide image. */
import { openSlide, LEVEL_SLACK } from '../wsi/slide.js';
import type { Slide } from '../wsi/types.js';
import type { Box } from '../wsi/tiler.js';
import { ImageError, loadRgb, resizeRgb, type RgbImage } from '../data/image.js';
import { NpyFile } from '../data/npy.js';
import { stopsTheRun } from '../util/errors.js';
import { parseItemKey } from './item-key.js';

/**
 * Slides kept open at once. Items come slide by slide, so a few suffice; each open slide holds file
 * handles or a PACS connection and a cache of decoded tiles, which must not add up over an archive.
 */
const OPEN_SLIDES = 4;

/** Opens each .npy once for the whole run, and the slides it reads a few at a time; rows and regions are read in place. */
export class ItemLoader {
  private readonly arrays = new Map<string, Promise<NpyFile>>();
  private readonly slides = new Map<string, Promise<Slide>>();

  /** The pixels of the item whose key's string form is `source` (the name its errors give). */
  async load(source: string, size: number): Promise<RgbImage> {
    const key = parseItemKey(source);
    if (key.kind === 'region') return this.loadRegion(source, key.path, key.box, size);
    if (key.kind === 'file') return loadRgb(key.path, size);
    try {
      const file = await this.array(key.path);
      const [height, width] = file.shape.slice(1);
      const values = await file.readRow(key.row);
      const pixels = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) pixels[i] = Math.max(0, Math.min(255, Math.round(values[i])));
      return await resizeRgb(pixels, width, height, size, source);
    } catch (err) {
      throw err instanceof ImageError ? err : new ImageError(source, err instanceof Error ? err.message : String(err));
    }
  }

  /** A level-0 box of a slide, read from the coarsest level that still has `size` pixels across it. */
  private async loadRegion(source: string, path: string, box: Box, size: number): Promise<RgbImage> {
    try {
      const s = await this.slide(path);
      const level = s.bestLevelForDownsample((Math.min(box.width, box.height) / size) * LEVEL_SLACK);
      const ds = s.levels[level].downsample;
      const [w, h] = [Math.max(1, Math.round(box.width / ds)), Math.max(1, Math.round(box.height / ds))];
      const pixels = await s.readRegion(box.x, box.y, level, w, h);
      return await resizeRgb(pixels, w, h, size, source);
    } catch (err) {
      if (err instanceof ImageError || stopsTheRun(err)) throw err;
      throw new ImageError(source, err instanceof Error ? err.message : String(err));
    }
  }

  /** The open slide at `path`, most recently used last; the least recently used is closed beyond OPEN_SLIDES. */
  private slide(path: string): Promise<Slide> {
    let slide = this.slides.get(path);
    if (slide) this.slides.delete(path);
    else slide = openSlide(path);
    this.slides.set(path, slide);
    for (const [oldest, evicted] of this.slides) {
      if (this.slides.size <= OPEN_SLIDES) break;
      this.slides.delete(oldest);
      // Reads of it still in flight finish first (Slide.close's promise).
      void evicted.then((s) => s.close()).catch(() => undefined);
    }
    return slide;
  }

  private array(path: string): Promise<NpyFile> {
    let file = this.arrays.get(path);
    if (!file) {
      file = NpyFile.open(path);
      this.arrays.set(path, file);
    }
    return file;
  }

  async close(): Promise<void> {
    await Promise.all([...this.arrays.values()].map(async (f) => (await f).close()));
    await Promise.all([...this.slides.values()].map(async (s) => (await s.catch(() => null))?.close()));
    this.arrays.clear();
    this.slides.clear();
  }
}
