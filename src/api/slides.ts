/** Whole-slide images for the library: one object to read a slide's regions, its tissue and its patches. */
import { HistoseekError } from '../util/errors.js';
import { openSlide as openSlideFile } from '../wsi/slide.js';
import type { Slide } from '../wsi/types.js';
import { type TileOptions, type Tile, tiles } from '../wsi/tiler.js';
import { tissueMask, type TissueMask, type TissueMaskOptions } from '../wsi/tissue-mask.js';
import { slideError } from './slide-queries.js';

export type { Tile, TileOptions, TissueMask, TissueMaskOptions };

export interface SlideInfo {
  path: string;
  /** Which reader opened it: OpenSlide, sharp for plain images and TIFFs OpenSlide refuses, the DICOM reader (files, or a PACS over DICOMweb), or jpeg-tiff for TIFFs whose JPEG tiles libtiff would decode in the wrong colour space. */
  backend: 'openslide' | 'sharp' | 'dicom' | 'dicomweb' | 'jpeg-tiff';
  vendor: string;
  /** Level 0 (full resolution) first: each level's width, height and downsample. */
  levels: { width: number; height: number; downsample: number }[];
  /** Microns per level-0 pixel, or null when the file does not say. */
  mpp: { x: number; y: number } | null;
  objectivePower: number | null;
}

export interface HistoseekSlide extends AsyncDisposable {
  readonly info: SlideInfo;
  /** RGB bytes (width × height × 3) of a region of `level`, its corner at (x, y) in level-0 pixels; outside the slide is white. */
  readRegion(x: number, y: number, level: number, width: number, height: number): Promise<Uint8Array>;
  /** Where the tissue is (Otsu on saturation at low resolution, as indexing uses). */
  tissueMask(options?: TissueMaskOptions): Promise<TissueMask>;
  /** The tissue patches indexing would cut (224 px at 0.5 µm/px, half tissue, by default), one at a time. */
  patches(options?: TileOptions): AsyncGenerator<Tile>;
  /** Closes the file; later reads are CLOSED. */
  close(): Promise<void>;
}

/** Opens a whole-slide image (OpenSlide's formats, or a TIFF/PNG/JPEG); an unreadable file is a BAD_IMAGE naming both readers' reasons (NOT_FOUND when there is none). */
export async function openSlide(path: string): Promise<HistoseekSlide> {
  let slide: Slide;
  try {
    slide = await openSlideFile(path);
  } catch (err) {
    throw slideError(err, path);
  }
  let closed = false;
  const open = () => {
    if (closed) throw new HistoseekError('CLOSED', `${slide.path}: the slide was closed`);
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    slide.close();
  };
  return {
    info: {
      path: slide.path,
      backend: slide.backend,
      vendor: slide.vendor,
      mpp: slide.mpp,
      objectivePower: slide.objectivePower,
      levels: slide.levels.map((l) => ({ width: l.width, height: l.height, downsample: l.downsample })),
    },
    async readRegion(x, y, level, width, height) {
      open();
      return slide.readRegion(x, y, level, width, height);
    },
    async tissueMask(options) {
      open();
      return tissueMask(slide, options);
    },
    patches(options) {
      open();
      return tiles(slide, options);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
