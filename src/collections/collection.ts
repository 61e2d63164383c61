/** A labelled image collection: what `index` embeds and `eval` queries with. */
import type { SlideWithoutPatches } from '../wsi/no-patches.js';

export const LAYOUTS = ['folder', 'kimia', 'pannuke', 'imagenet', 'slides'] as const;
export type Layout = (typeof LAYOUTS)[number];

export function isLayout(name: string): name is Layout {
  return (LAYOUTS as readonly string[]).includes(name);
}

export interface CollectionItem {
  /** Unique and stable: its key's string form (item-key.ts), its path absolute: a file, `<images.npy>#<row>`, or a slide patch `<slide>#region=x,y,w,h`. */
  source: string;
  label: string;
  /** The slide (Kimia: the scan) the patch was cut from, when the layout says. */
  slide?: string;
  patient?: string;
  /** Level-0 box of a patch cut from a whole-slide image. */
  x?: number;
  y?: number;
  width?: number;
  height?: number;
}

export interface Collection {
  layout: Layout;
  /** The folder the items were read from. */
  root: string;
  items: CollectionItem[];
  /** Sources that could not be read as part of the collection (e.g. a damaged slide), with the reason. */
  skipped: { source: string; reason: string }[];
  /** slides: slides that were read but gave no patch (no tissue, or smaller than a patch), with the reason. */
  withoutPatches: SlideWithoutPatches[];
}

/** Which tree of a layout with a training and a test tree (Kimia) to read. */
export type Role = 'index' | 'queries';
