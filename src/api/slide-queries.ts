/**
 * Searching with a slide instead of one image: a region of it (cut into patches as an indexed
 * slide is; each item at its best distance to any of them), or the whole slide (its mosaic of
 * representative patches; the indexed slides ranked by median-of-minimum distance, with votes).
 * What `histoseek search --slide … --region | --whole` and the library's searchRegion and
 * searchSlide run.
 */
import { existsSync } from 'node:fs';
import type { ItemSearcher, ItemStore } from '../store/item-store.js';
import { searchRegion, searchWholeSlide, type SlideMatch } from '../store/slide-search.js';
import type { Embedder } from '../engine/embedder.js';
import { HistoseekError } from '../util/errors.js';
import { mosaic } from '../wsi/mosaic.js';
import { NoPatchesError } from '../wsi/no-patches.js';
import { SlideOpenError } from '../wsi/slide.js';
import { formatItemKey } from '../collections/item-key.js';
import { SLIDE_TILING, slidePatchItems, type SlidePatch } from '../collections/slide-items.js';
import { resolveSlidePath, slideId } from '../wsi/slide-sources.js';
import { rankedResults, type Box, type SearchResult } from './results.js';

export type { SlideMatch };

/** What a slide search runs against: the index's model, store and searcher. */
export interface SlideSearchContext {
  embedder: Embedder;
  store: ItemStore;
  searcher: ItemSearcher;
}

export interface SlideSearchOptions {
  /** Results (default 10). */
  k: number;
  /** Let the results hold the query slide's own items (left out by default: they would find themselves). */
  includeOwnSlide?: boolean;
}

/** A slide that cannot be opened: NOT_FOUND when the file is not there, else BAD_IMAGE with the readers' reasons. */
export function slideError(err: unknown, path: string): unknown {
  if (err instanceof SlideOpenError)
    return new HistoseekError(existsSync(path) ? 'BAD_IMAGE' : 'NOT_FOUND', err.message, { cause: err });
  if (err instanceof NoPatchesError) return new HistoseekError('BAD_IMAGE', err.message, { cause: err });
  return err;
}

/** The slide's patches, its open and tiling errors typed. */
async function patchesOf(path: string, box?: Box): Promise<SlidePatch[]> {
  try {
    return await (box
      ? slidePatchItems(path, null, { ...SLIDE_TILING, minTissue: 0 }, box)
      : slidePatchItems(path, null)); // a slide without patches throws, saying why
  } catch (err) {
    throw slideError(err, path);
  }
}

/** BAD_QUERY unless `box` is a level-0 rectangle: integer corner, positive integer size. */
function checkBox(box: Box): void {
  const { x, y, width, height } = box ?? {};
  if (![x, y, width, height].every(Number.isSafeInteger) || width <= 0 || height <= 0)
    throw new HistoseekError(
      'BAD_QUERY',
      `a region is { x, y, width, height } in level-0 pixels (integers, positive size), got ${JSON.stringify(box)}`,
    );
}

export interface RegionSearch {
  /** Patches the region was cut into (1 when it is smaller than one: the region itself). */
  patches: number;
  results: SearchResult[];
}

/** The k items nearest to any patch of the region `box` of the slide at `slide`. */
export async function regionSearch(
  index: SlideSearchContext,
  slide: string,
  box: Box,
  o: SlideSearchOptions,
): Promise<RegionSearch> {
  checkBox(box);
  const path = resolveSlidePath(slide);
  const patches = await patchesOf(path, box);
  const queries = patches.length ? patches : [{ source: formatItemKey({ kind: 'region', path, box }), label: '' }];
  const hits = await searchRegion(index, queries, o.k, o.includeOwnSlide ? null : slideId(path));
  return { patches: queries.length, results: rankedResults(hits) };
}

export interface WholeSlideSearch {
  /** The slide's tissue patches. */
  patches: number;
  /** Of them, those of its mosaic: what was searched with. */
  mosaic: number;
  /** Indexed slides, nearest first. */
  results: (SlideMatch & { rank: number })[];
}

/** The k indexed slides nearest to the slide at `slide` (its mosaic's patches). */
export async function wholeSlideSearch(
  index: SlideSearchContext,
  slide: string,
  o: SlideSearchOptions,
): Promise<WholeSlideSearch> {
  const path = resolveSlidePath(slide);
  const patches = await patchesOf(path);
  const chosen = await mosaic(path, patches);
  const slides = await searchWholeSlide(index, chosen, o.includeOwnSlide ? null : slideId(path));
  return {
    patches: patches.length,
    mosaic: chosen.length,
    results: slides.slice(0, o.k).map((match, i) => ({ rank: i + 1, ...match })),
  };
}
