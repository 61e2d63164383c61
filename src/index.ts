/**
 * The histoseek library: `import { openIndex, loadModel, openSlide } from 'histoseek'`.
 *
 * @example
 * const index = await openIndex('histoseek-demo/db');
 * const results = await index.search('query.png', { k: 10 });
 * await index.close();
 */
export { HistoseekIndex, loadModel, openIndex } from './api/library.js';
export type {
  HistoseekModel,
  IndexInfo,
  IndexReport,
  Layout,
  ModelIdentity,
  ModelOptions,
  OpenIndexOptions,
  PatchSelection,
  RetrievalMetrics,
  SearchMode,
  SearchOptions,
  SearchResult,
  VectorKind,
} from './api/library.js';
export { openSlide } from './api/slides.js';
export type { HistoseekSlide, SlideInfo, Tile, TileOptions, TissueMask, TissueMaskOptions } from './api/slides.js';
