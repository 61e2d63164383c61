/**
 * What a slide is, whichever reader opened it: the readers (slide.ts, dicom/, tiff/) implement it
 * and everything above reads through it. Only types: slide.ts picks among the readers, so they take
 * the interface from here rather than from it.
 */
export interface SlideLevel {
  width: number;
  height: number;
  /** Level-0 pixels per pixel of this level. */
  downsample: number;
}

/** Interleaved RGB, row-major. */
export interface RgbRaster {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface Slide {
  readonly path: string;
  /** Which reader opened the file. */
  readonly backend: 'openslide' | 'sharp' | 'dicom' | 'dicomweb' | 'jpeg-tiff';
  /** OpenSlide's vendor ('aperio', 'generic-tiff', …), or the image format sharp read ('png', 'tiff', …). */
  readonly vendor: string;
  /** Level 0 (full resolution) first, then ever coarser levels. */
  readonly levels: readonly SlideLevel[];
  /** Microns per level-0 pixel, or null when the file does not say. */
  readonly mpp: { x: number; y: number } | null;
  /** Scanning objective magnification (e.g. 20), or null when unknown. */
  readonly objectivePower: number | null;
  readonly properties: Readonly<Record<string, string>>;
  /** Names of the associated images (e.g. 'thumbnail', 'label', 'macro'). */
  associatedImages(): string[];
  readAssociated(name: string): Promise<RgbRaster>;
  /**
   * RGB of a width × height region of `level`, its top-left corner at (x0, y0) in level-0 pixels.
   * Areas outside the slide (or not scanned) are white.
   */
  readRegion(x0: number, y0: number, level: number, width: number, height: number): Promise<Uint8Array>;
  /** OpenSlide's rule: the coarsest level whose downsample is at most `downsample` (level 0 if none). */
  bestLevelForDownsample(downsample: number): number;
  /** Releases the file; reads still in flight finish first. Idempotent. */
  close(): void;
}
