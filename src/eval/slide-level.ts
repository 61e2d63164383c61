/**
 * Slide-level retrieval, leave-one-slide-out: every indexed slide queries with its mosaic against the
 * others (its own patches left out); it counts as right when the top-ranked slide has its label.
 */
import { existsSync } from 'node:fs';
import type { Embedder } from '../engine/embedder.js';
import type { ItemSearcher, ItemStore } from '../store/item-store.js';
import { searchWholeSlide } from '../store/slide-search.js';
import type { StoredItem } from '../store/types.js';
import { mosaic } from '../wsi/mosaic.js';
import { parseItemKey } from '../collections/item-key.js';

export interface SlideLevelResult {
  slides: number;
  /** Top-ranked slide (median-of-minimum distance) has the query's label. */
  top1_accuracy: number;
  /** The label with most mosaic votes is the query's. */
  majority_vote_accuracy: number;
  per_slide: {
    slide: string;
    label: string;
    top1: string | null;
    top1_label: string | null;
    vote_label: string | null;
  }[];
}

export async function evaluateSlides(
  q: { store: ItemStore; searcher: ItemSearcher; embedder: Embedder },
  onSlide?: (done: number, total: number) => void,
): Promise<SlideLevelResult> {
  const bySlide = new Map<string, { path: string; label: string; items: StoredItem[] }>();
  for (const item of await q.store.allItems()) {
    const key = parseItemKey(item.source);
    if (key.kind !== 'region' || item.slide == null) continue;
    const entry = bySlide.get(item.slide) ?? { path: key.path, label: item.label, items: [] };
    entry.items.push(item);
    bySlide.set(item.slide, entry);
  }
  if (bySlide.size < 2)
    throw new Error(
      `${q.store.location}: slide-level evaluation needs an index of at least 2 whole slides (index them with --layout slides)`,
    );
  const perSlide: SlideLevelResult['per_slide'] = [];
  let done = 0;
  for (const [slide, { path, label, items }] of bySlide) {
    if (!existsSync(path)) throw new Error(`${path}: the slide file of indexed slide '${slide}' is missing`);
    const patches = items.map((i) => ({
      source: i.source,
      label: i.label,
      slide,
      x: i.x ?? 0,
      y: i.y ?? 0,
      width: i.width ?? 0,
      height: i.height ?? 0,
    }));
    const ranked = await searchWholeSlide(q, await mosaic(path, patches), slide);
    const votes = new Map<string, number>();
    for (const m of ranked) votes.set(m.label, (votes.get(m.label) ?? 0) + m.votes);
    const voteLabel = [...votes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
    perSlide.push({
      slide,
      label,
      top1: ranked[0]?.slide ?? null,
      top1_label: ranked[0]?.label ?? null,
      vote_label: voteLabel,
    });
    onSlide?.(++done, bySlide.size);
  }
  const share = (f: (r: SlideLevelResult['per_slide'][number]) => boolean) =>
    perSlide.filter(f).length / perSlide.length;
  return {
    slides: perSlide.length,
    top1_accuracy: share((r) => r.top1_label === r.label),
    majority_vote_accuracy: share((r) => r.vote_label === r.label),
    per_slide: perSlide,
  };
}
