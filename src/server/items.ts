/** How an indexed item is shown to clients: its metadata and the URL of its thumbnail, never a way to fetch its path. */
import type { StoredItem } from '../store/types.js';
import type { ItemJson, Majority } from '../api/schemas.js';

export function itemJson(item: StoredItem): ItemJson {
  const { x, y, width, height } = item;
  const box = x != null && y != null && width != null && height != null ? { x, y, width, height } : null;
  return {
    id: item.row,
    path: item.source,
    label: item.label,
    slide: item.slide ?? null,
    patient: item.patient ?? null,
    box,
    thumbnail: `/api/items/${item.row}/thumbnail`,
  };
}

/** The most frequent label among ranked labels; a tie goes to the first-ranked (as the eval's MV@k). */
export function majority(labels: readonly string[]): Majority | null {
  if (labels.length === 0) return null;
  const votes = new Map<string, number>();
  for (const label of labels) votes.set(label, (votes.get(label) ?? 0) + 1);
  let best = labels[0];
  for (const label of labels) if (votes.get(label)! > votes.get(best)!) best = label;
  return { label: best, votes: votes.get(best)!, of: labels.length };
}
