/** The options that say how to read a collection: its layout (--layout) and its labels (--labels). */
import { isLayout, LAYOUTS, type Layout } from '../collections/collection.js';
import { usageRow } from './args.js';

export const COLLECTION_OPTIONS = {
  layout: { type: 'string' },
  labels: { type: 'string' },
} as const;

/** The usage row of --layout (--labels applies to some layouts only, so each command words its own). */
export const LAYOUT_USAGE = usageRow('--layout L', `${LAYOUTS.join(' | ')} (default: folder)`);

export function parseLayout(value: string | undefined): Layout {
  const layout = value ?? 'folder';
  if (!isLayout(layout)) throw new Error(`--layout must be one of ${LAYOUTS.join(', ')}, got '${layout}'`);
  return layout;
}
