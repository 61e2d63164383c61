/**
 * Slide patches in a store: items whose source is the region key (collections/item-key.ts) of
 * their own level-0 box. The folder store keeps such a key as its slide's path and the box, and
 * spells it again through the codec when it reads it; every other source is kept as it is.
 */
import { type ItemKey, parseItemKey } from '../collections/item-key.js';
import type { ItemRecord } from './types.js';

export type RegionKey = Extract<ItemKey, { kind: 'region' }>;

/** The region key of a slide patch; null for an item without a box, or whose source is not its box's region. */
export function patchKey(item: ItemRecord): RegionKey | null {
  const { x, y, width, height } = item;
  if (x == null || y == null || width == null || height == null) return null;
  const key = parseItemKey(item.source);
  if (key.kind !== 'region') return null;
  const { box } = key;
  return box.x === x && box.y === y && box.width === width && box.height === height ? key : null;
}
