/** The options that choose how a command searches: --exact, --two-stage, --candidates, and -k results. */
import { type SearchSettings, TWO_STAGE_MIN_ROWS } from '../store/types.js';
import { optionalPositiveInt, positiveInt } from './args.js';

/** The options that choose how a command searches, for its parseArgs table. */
export const SEARCH_MODE_OPTIONS = {
  exact: { type: 'boolean', default: false },
  'two-stage': { type: 'boolean', default: false },
  candidates: { type: 'string' },
} as const;

export const SEARCH_MODE_USAGE = `  --exact              compare with every item (default below ${TWO_STAGE_MIN_ROWS.toLocaleString('en')} items)
  --two-stage          graph candidates re-ranked exactly (default from ${TWO_STAGE_MIN_ROWS.toLocaleString('en')} items on)
  --candidates N       two-stage: graph candidates per query, the nearest 100 of which (more past
                       512-d or k 12) are re-ranked exactly (default by live items: 320 below
                       2 million, 640 below 6 million, 2 560 from there, times d / 256 past
                       256-d; on PostgreSQL, hnsw.ef_search: 160, 320, 640); more is closer to
                       exact and slower — see the README's table by archive size
`;

/** `--exact` or `--two-stage` (not both; neither lets the index's size decide), and `--candidates`. */
export function parseSearchSettings(o: {
  exact?: boolean;
  'two-stage'?: boolean;
  candidates?: string;
}): SearchSettings {
  if (o.exact && o['two-stage']) throw new Error('give --exact or --two-stage, not both');
  return {
    mode: o.exact ? 'exact' : o['two-stage'] ? 'two-stage' : 'auto',
    candidates: optionalPositiveInt(o.candidates, '--candidates'),
  };
}

/** `-k N`: how many results (neighbours) per query. */
export const K_OPTIONS = {
  k: { type: 'string', short: 'k' },
} as const;

export const DEFAULT_K = 10;

export function parseK(o: { k?: string }): number {
  return positiveInt(o.k, DEFAULT_K, '-k');
}
