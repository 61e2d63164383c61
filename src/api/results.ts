/**
 * What the library returns for an indexed item and a search hit: the item's id (its row: stable,
 * never reused), its file, and a slide patch's level-0 box as numbers — never a `path#region=`
 * string to parse.
 */
import type { StoredItem } from '../store/types.js';
import { patchKey } from '../store/patch-key.js';
import type { Box } from '../wsi/tiler.js';

export type { Box };

/** An item of an index, as `get(id)` returns it. */
export interface IndexedItem {
  /** The item's row in the index: stable, and never given to another item (even once it is removed). */
  id: number;
  /** The file the item came from (a slide for a patch: its region is `box`), or the name it was added under. */
  path: string;
  label: string;
  slide: string | null;
  patient: string | null;
  /** A slide patch's level-0 box; null for an item that is a whole image. */
  box: Box | null;
}

/** One ranked answer of a search. */
export interface SearchResult extends IndexedItem {
  /** 1 for the nearest. */
  rank: number;
  /** Squared L2 between unit descriptors (2 − 2·cosine): 0 is identical, 4 opposite. */
  distance: number;
}

export function indexedItem(item: StoredItem): IndexedItem {
  const { x, y, width, height } = item;
  return {
    id: item.row,
    path: patchKey(item)?.path ?? item.source,
    label: item.label,
    slide: item.slide ?? null,
    patient: item.patient ?? null,
    box: x != null && y != null && width != null && height != null ? { x, y, width, height } : null,
  };
}

/** Items with their distances, nearest first, as ranked results. */
export function rankedResults(hits: (StoredItem & { distance: number })[]): SearchResult[] {
  return hits.map((hit, i) => ({ rank: i + 1, distance: hit.distance, ...indexedItem(hit) }));
}
