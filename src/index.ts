/**
 * The histoseek library: `import { openIndex, loadModel, openSlide } from 'histoseek'`.
 *
 * @packageDocumentation
 * @example
 * await using index = await openIndex('histoseek-demo/db');
 * const results = await index.search('query.png', { k: 10 });
 * const batch = await index.searchBatch([pngBuffer, { pixels, width, height }, descriptor]);
 */
export { HistoseekIndex, loadModel, openIndex } from './api/library.js';
export type {
  AddCollectionOptions,
  AddItem,
  AddOptions,
  AddProgress,
  AddReport,
  Box,
  HistoseekModel,
  ImageInput,
  IndexedItem,
  IndexInfo,
  Layout,
  LoadModelOptions,
  Logger,
  ModelIdentity,
  ModelOptions,
  OpenIndexOptions,
  PatchSelection,
  Query,
  RawPixels,
  RegionSearch,
  RetrievalMetrics,
  SearchMode,
  SearchOptions,
  SearchResult,
  SlideMatch,
  SlideSearchOptions,
  VectorKind,
  WholeSlideSearch,
} from './api/library.js';
export { rebuildGraph, upgradeIndex } from './api/maintenance.js';
export type { GraphReport, UpgradeReport } from './api/maintenance.js';
export { openSlide } from './api/slides.js';
export type { HistoseekSlide, SlideInfo, Tile, TileOptions, TissueMask, TissueMaskOptions } from './api/slides.js';
export { ERROR_CODES, HistoseekError, isHistoseekError } from './util/errors.js';
export { LAYOUTS } from './collections/collection.js';
export { SEARCH_MODES, VECTOR_KINDS } from './store/types.js';
export type { PerClassMetrics } from './eval/metrics.js';
export type { Preprocessing, Rgb } from './model/encoder.js';
export type { SlideWithoutPatches } from './wsi/no-patches.js';
export type { ErrorCode } from './util/errors.js';
