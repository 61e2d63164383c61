/**
 * Whole-slide images for the viewer, as Deep Zoom pyramids (what OpenSeadragon reads). The slides
 * are the slide files and DICOM series of one folder, or the series of a PACS, listed once at start-up; a request names a slide by its id (the file
 * name without extension), which is looked up in that list — never turned into a path.
 *
 * Deep Zoom level L of a W × H slide is the slide scaled by 2^(L − maxLevel), maxLevel =
 * ⌈log2 max(W, H)⌉, cut into 256-px tiles. Each tile is read from the slide's own pyramid level
 * closest to (not coarser than) its scale and shrunk by sharp.
 */
import sharp from 'sharp';
import { LEVEL_SLACK, openSlide, SlideOpenError } from '../wsi/slide.js';
import type { Slide } from '../wsi/types.js';
import { HttpError, notFound } from './errors.js';
import { slideId, slideSources } from '../wsi/slide-sources.js';
import { LruCache } from './lru.js';
import type { DeepZoomInfo } from '../api/schemas.js';

export const TILE_SIZE = 256;
/** Largest region read from the slide for one tile: coarser Deep Zoom levels than that are not offered. */
const MAX_READ_PIXELS = 2048 * 2048;
/** Plain images a slides folder may hold: indexed as one-level slides, but images rather than slides to browse. */
const PLAIN_IMAGE = /\.(png|jpe?g)$/i;

export class SlideLibrary {
  private readonly open = new Map<string, Promise<Slide>>();
  private readonly tileCache = new LruCache<string, Buffer>(1024);

  private constructor(private readonly files: ReadonlyMap<string, string>) {}

  /**
   * The slides of `source`, listed once: the slide files directly in a folder (by extension) and the
   * DICOM WSI series in it and its sub-folders, or the slide-microscopy series of a PACS
   * (`dicomweb+https://…`). The first of two slides with one id wins.
   */
  static async scan(source: string): Promise<SlideLibrary> {
    const files = new Map<string, string>();
    for (const path of await slideSources(source)) {
      const id = slideId(path);
      if (!PLAIN_IMAGE.test(path) && !files.has(id)) files.set(id, path);
    }
    return new SlideLibrary(files);
  }

  ids(): string[] {
    return [...this.files.keys()];
  }

  private slide(id: string): Promise<Slide> {
    const path = this.files.get(id);
    if (!path) return Promise.reject(notFound(`no slide '${id.slice(0, 100)}'`));
    let slide = this.open.get(id);
    if (!slide) {
      slide = openSlide(path).catch((err) => {
        this.open.delete(id);
        throw err instanceof SlideOpenError ? new HttpError(500, err.message) : err;
      });
      this.open.set(id, slide);
    }
    return slide;
  }

  async info(id: string): Promise<DeepZoomInfo> {
    const slide = await this.slide(id);
    const { width, height } = slide.levels[0]!;
    const maxLevel = Math.ceil(Math.log2(Math.max(width, height)));
    let minLevel = 0;
    while (minLevel < maxLevel && readSide(slide, maxLevel - minLevel) ** 2 > MAX_READ_PIXELS) minLevel++;
    return {
      id,
      width,
      height,
      mpp: slide.mpp,
      tileSize: TILE_SIZE,
      overlap: 0,
      format: 'jpeg',
      minLevel,
      maxLevel,
      tiles: `/api/slides/${encodeURIComponent(id)}/tiles/`,
    };
  }

  tile(id: string, level: number, col: number, row: number): Promise<Buffer> {
    return this.tileCache.get(`${id}/${level}/${col}_${row}`, () => this.renderTile(id, level, col, row));
  }

  private async renderTile(id: string, level: number, col: number, row: number): Promise<Buffer> {
    const info = await this.info(id);
    const slide = await this.slide(id);
    if (level < info.minLevel || level > info.maxLevel)
      throw notFound(`slide '${id}' has Deep Zoom levels ${info.minLevel}–${info.maxLevel}`);
    const d = 2 ** (info.maxLevel - level);
    const [lw, lh] = [Math.ceil(info.width / d), Math.ceil(info.height / d)];
    const [x, y] = [col * TILE_SIZE, row * TILE_SIZE];
    if (x >= lw || y >= lh) throw notFound(`slide '${id}' level ${level} has no tile ${col}_${row}`);
    const [w, h] = [Math.min(TILE_SIZE, lw - x), Math.min(TILE_SIZE, lh - y)];
    const source = slide.bestLevelForDownsample(d * LEVEL_SLACK);
    const scale = d / slide.levels[source]!.downsample; // source-level pixels per tile pixel
    const [rw, rh] = [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
    const rgb = await slide.readRegion(x * d, y * d, source, rw, rh);
    let image = sharp(rgb, { raw: { width: rw, height: rh, channels: 3 } });
    if (rw !== w || rh !== h) image = image.resize(w, h, { fit: 'fill' });
    return image.jpeg({ quality: 85 }).toBuffer();
  }

  async close(): Promise<void> {
    const slides = await Promise.allSettled(this.open.values());
    for (const s of slides) if (s.status === 'fulfilled') s.value.close();
  }
}

/** Side of the source-level region one tile of Deep Zoom downsample 2^steps reads. */
function readSide(slide: Slide, steps: number): number {
  const d = 2 ** steps;
  return (TILE_SIZE * d) / slide.levels[slide.bestLevelForDownsample(d * LEVEL_SLACK)]!.downsample;
}
