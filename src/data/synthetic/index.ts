/** Seeded synthetic H&E slides and patches for tests and the demo (no real patient data ships). */
export { TISSUE_CLASSES, renderTissue, type TissueClass } from './tissue.js';
export { DEFAULT_STAIN, randomStain, type Rgb, type StainParams } from './stain.js';
export { randomScanner, type ScannerParams } from './scanner.js';
export { GLASS, MICRONS_PER_PIXEL, renderSlide, type Slide, type SlideOptions } from './slide.js';
export { writePyramidalTiff } from './pyramidal-tiff.js';
export { composePatch, renderPatch, type ComposeOptions, type Rect } from './patch.js';
export {
  writeKimiaCollection,
  type CollectionOptions,
  type CollectionSummary,
  type PatchRecord,
  type SlideRecord,
} from './collection.js';
export { writePatchCollection, type PatchCollectionOptions, type RenderedPatchRecord } from './patch-collection.js';
export type { Density } from './density.js';
export { isSyntheticCollection } from './provenance.js';
