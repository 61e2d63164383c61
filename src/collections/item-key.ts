/**
 * An item's identity: the file it is read from and, for a patch of a whole-slide image, the
 * patch's level-0 box, or, for an array of images (`.npy`), the row. Code passes the typed key; the
 * string form is for display and storage (indexes store it, so it must not change):
 * `<path>`, `<slide path>#region=x,y,w,h`, `<path of the .npy>#<row>`.
 */
import { ImageError } from '../data/image.js';
import type { Box } from '../wsi/tiler.js';

export type ItemKey =
  | { kind: 'file'; path: string }
  | { kind: 'region'; path: string; box: Box }
  | { kind: 'array-row'; path: string; row: number };

const REGION = /^(.*)#region=(-?\d+),(-?\d+),(\d+),(\d+)$/;
/** `#region=` in the last segment: a patch's key, even when its box is mistyped. */
const REGION_MARK = /#region=[^/]*$/;
const ARRAY_ROW = /^(.*\.npy)#(\d+)$/;

export function formatItemKey(key: ItemKey): string {
  switch (key.kind) {
    case 'file':
      return key.path;
    case 'region': {
      const { x, y, width, height } = key.box;
      return `${key.path}#region=${x},${y},${width},${height}`;
    }
    case 'array-row':
      return `${key.path}#${key.row}`;
  }
}

/**
 * The key an item's string form stands for; any other text is a file's path. A mistyped patch box
 * is an ImageError naming the text (BAD_IMAGE: it names no image that can be read).
 */
export function parseItemKey(text: string): ItemKey {
  if (!text) throw new Error('an item key is empty: expected a path, <slide>#region=x,y,w,h or <file>.npy#row');
  const region = REGION.exec(text);
  if (region) {
    const [x, y, width, height] = region.slice(2).map(Number);
    return { kind: 'region', path: region[1], box: { x, y, width, height } };
  }
  if (REGION_MARK.test(text))
    throw new ImageError(text, 'a slide patch is written <slide>#region=x,y,w,h (whole numbers, w and h not negative)');
  const row = ARRAY_ROW.exec(text);
  if (row) return { kind: 'array-row', path: row[1], row: Number(row[2]) };
  return { kind: 'file', path: text };
}
