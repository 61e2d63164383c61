/**
 * Which tissue patches of a slide `index --layout slides` stores: every one, or only its mosaic
 * (the representative patches whole-slide search queries with), which costs a fraction of the
 * storage and embedding time. The mosaic is seeded, so a rerun picks the same patches and resumes.
 */
import { mosaic } from '../wsi/mosaic.js';
import type { SlidePatch } from './slide-items.js';

/** `all`, or a mosaic: the default share of each colour cluster, or about `target` patches per slide. */
export type PatchSelection = { kind: 'all' } | { kind: 'mosaic'; target?: number };

export function selectPatches(path: string, patches: SlidePatch[], selection: PatchSelection): Promise<SlidePatch[]> {
  return selection.kind === 'all' ? Promise.resolve(patches) : mosaic(path, patches, { target: selection.target });
}
