/**
 * Which tissue patches of a slide `index --layout slides` stores: every one, or only its mosaic
 * (the representative patches whole-slide search queries with), which costs a fraction of the
 * storage and embedding time. The mosaic is seeded, so a rerun picks the same patches and resumes.
 */
import type { CollectionItem } from './collection.js';
import { mosaic } from '../wsi/mosaic.js';

/** `all`, or a mosaic: the default share of each colour cluster, or about `target` patches per slide. */
export type PatchSelection = { kind: 'all' } | { kind: 'mosaic'; target?: number };

export function selectPatches(
  path: string,
  patches: CollectionItem[],
  selection: PatchSelection,
): Promise<CollectionItem[]> {
  return selection.kind === 'all' ? Promise.resolve(patches) : mosaic(path, patches, { target: selection.target });
}
