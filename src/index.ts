/**
 * The histoseek library: `import { loadModel, openIndex } from 'histoseek'`.
 *
 * @example
 * const index = await openIndex('histoseek-demo/db');
 * const results = await index.search('query.png', { k: 10 });
 * await index.close();
 */
export { HistoseekIndex, loadModel, openIndex } from './api/library.js';
export type { HistoseekModel, IndexInfo, ModelIdentity, ModelOptions, OpenIndexOptions, SearchMode, SearchOptions, SearchResult, VectorKind } from './api/library.js';
