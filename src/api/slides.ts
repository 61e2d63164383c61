/** Whole-slide images for the library: one object to read a slide's regions, its tissue and its patches. */
import { openSlide as openSlideFile, type Slide } from '../wsi/slide.js';
import { type TileOptions, type Tile, tiles } from '../wsi/tiler.js';
import { tissueMask, type TissueMask, type TissueMaskOptions } from '../wsi/tissue-mask.js';

export type { Tile, TileOptions, TissueMask, TissueMaskOptions };

export interface SlideInfo {
  path: string;
  /** Which reader opened it: OpenSlide, or sharp for plain images and TIFFs OpenSlide refuses. */
  backend: 'openslide' | 'sharp';
  vendor: string;
  /** Level 0 (full resolution) first: each level's width, height and downsample. */
  levels: { width: number; height: number; downsample: number }[];
  /** Microns per level-0 pixel, or null when the file does not say. */
  mpp: { x: number; y: number } | null;
  objectivePower: number | null;
}

export interface HistoseekSlide {
  readonly info: SlideInfo;
  /** RGB bytes (width × height × 3) of a region of `level`, its corner at (x, y) in level-0 pixels; outside the slide is white. */
  readRegion(x: number, y: number, level: number, width: number, height: number): Promise<Uint8Array>;
  /** Where the tissue is (Otsu on saturation at low resolution, as indexing uses). */
  tissueMask(options?: TissueMaskOptions): Promise<TissueMask>;
  /** The tissue patches indexing would cut (224 px at 0.5 µm/px, half tissue, by default), one at a time. */
  patches(options?: TileOptions): AsyncGenerator<Tile>;
  close(): void;
}

/** Opens a whole-slide image (OpenSlide's formats, or a TIFF/PNG/JPEG); an unreadable file is an error naming both readers' reasons. */
export async function openSlide(path: string): Promise<HistoseekSlide> {
  const slide: Slide = await openSlideFile(path);
  return {
    info: {
      path: slide.path,
      backend: slide.backend,
      vendor: slide.vendor,
      mpp: slide.mpp,
      objectivePower: slide.objectivePower,
      levels: slide.levels.map((l) => ({ width: l.width, height: l.height, downsample: l.downsample })),
    },
    readRegion: (x, y, level, width, height) => slide.readRegion(x, y, level, width, height),
    tissueMask: (options) => tissueMask(slide, options),
    patches: (options) => tiles(slide, options),
    close: () => slide.close(),
  };
}
