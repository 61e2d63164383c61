/** A labelled image collection: what `index` embeds and `eval` queries with. */

export const LAYOUTS = ['folder', 'kimia', 'pannuke', 'imagenet'] as const;
export type Layout = (typeof LAYOUTS)[number];

export function isLayout(name: string): name is Layout {
  return (LAYOUTS as readonly string[]).includes(name);
}

export interface CollectionItem {
  /** Unique and stable: an absolute file path, or `<absolute path of images.npy>#<row>`. */
  source: string;
  label: string;
  /** The slide (Kimia: the scan) the patch was cut from, when the layout says. */
  slide?: string;
  patient?: string;
}

export interface Collection {
  layout: Layout;
  /** The folder the items were read from. */
  root: string;
  items: CollectionItem[];
}

/** Which tree of a layout with a training and a test tree (Kimia) to read. */
export type Role = 'index' | 'queries';

/** Natural order, so `s2` comes before `s10`. */
export const naturalCompare = new Intl.Collator('en', { numeric: true }).compare;
