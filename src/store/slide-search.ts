/**
 * Searching with more than one patch: a region of a slide (its patches' hits merged, each item at
 * its best distance) and a whole slide (its mosaic's hits aggregated per indexed slide, Yottixel's
 * median-of-minimum distance, with a majority vote of the patches' top-1 slides).
 */
import type { CollectionItem } from '../collections/collection.js';
import { ItemLoader } from '../collections/load.js';
import { embedAll } from '../engine/embed-images.js';
import type { Embedder } from '../engine/embedder.js';
import { normaliseRows } from './vectors/normalise.js';
import { hitItems, type ItemSearcher, type ItemStore } from './item-store.js';
import type { Exclusion, Hit, StoredItem } from './types.js';

export interface QueryPatches {
  embedder: Embedder;
  searcher: ItemSearcher;
  store: ItemStore;
}

/** Every row of a slide, to leave out; null when nothing is excluded. */
async function excludeSlide(store: ItemStore, slide: string | null): Promise<Exclusion | undefined> {
  return slide === null ? undefined : { rows: [await store.slideRows(slide)] };
}

/** The normalised descriptors of the query patches. */
async function embedPatches(
  embedder: Embedder,
  patches: CollectionItem[],
): Promise<{ vectors: Float32Array; count: number }> {
  const loader = new ItemLoader();
  try {
    const embedded = await embedAll(
      embedder,
      patches.map((p) => p.source),
      16,
      (s, size) => loader.load(s, size),
    );
    if (embedded.failures.length) throw new Error(embedded.failures.map((f) => f.message).join('\n'));
    return { vectors: normaliseRows(embedded.raw, embedder.dimensions), count: embedded.sources.length };
  } finally {
    await loader.close();
  }
}

async function patchHits(
  q: QueryPatches,
  patches: CollectionItem[],
  k: number,
  exclude: string | null,
): Promise<Hit[][]> {
  const { vectors, count } = await embedPatches(q.embedder, patches);
  return q.searcher.search(vectors, count, { k, exclude: await excludeSlide(q.store, exclude) });
}

/** The k items closest to any patch of the region (each at its smallest distance). */
export async function searchRegion(
  q: QueryPatches,
  patches: CollectionItem[],
  k: number,
  exclude: string | null,
): Promise<(StoredItem & { distance: number })[]> {
  const best = new Map<number, number>();
  for (const ranked of await patchHits(q, patches, k, exclude)) {
    for (const h of ranked) best.set(h.row, Math.min(best.get(h.row) ?? Infinity, h.distance));
  }
  const top = [...best].sort((a, b) => a[1] - b[1] || a[0] - b[0]).slice(0, k);
  return hitItems(
    q.store,
    top.map(([row, distance]) => ({ row, distance })),
  );
}

export interface SlideMatch {
  slide: string;
  label: string;
  /** Median over the mosaic's patches of each patch's smallest distance to this slide's items. */
  medianMinDistance: number;
  /** Mosaic patches whose nearest item lies on this slide. */
  votes: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Indexed slides ranked by median-of-minimum distance to the mosaic. Each patch looks at its
 * `perPatch` nearest items; a slide absent from a patch's list counts that list's largest distance.
 */
export async function searchWholeSlide(
  q: QueryPatches,
  mosaic: CollectionItem[],
  exclude: string | null,
  perPatch = 100,
): Promise<SlideMatch[]> {
  const { vectors, count } = await embedPatches(q.embedder, mosaic);
  return rankSlides(q, vectors, count, exclude, perPatch);
}

/** Whole-slide search from the mosaic's descriptors (`count` normalised rows): see searchWholeSlide. */
export async function rankSlides(
  q: Omit<QueryPatches, 'embedder'>,
  mosaic: Float32Array,
  count: number,
  exclude: string | null,
  perPatch = 100,
): Promise<SlideMatch[]> {
  const hits = await q.searcher.search(mosaic, count, { k: perPatch, exclude: await excludeSlide(q.store, exclude) });
  const hitRows = [...new Set(hits.flatMap((ranked) => ranked.map((h) => h.row)))];
  const items = new Map((await q.store.items(hitRows)).flatMap((i) => (i ? [[i.row, i] as const] : [])));
  const slides = new Map<string, { label: string; mins: Map<number, number>; votes: number }>();
  hits.forEach((ranked, p) => {
    ranked.forEach((h, rank) => {
      const item = items.get(h.row);
      if (!item) return; // removed since the search
      const key = item.slide ?? item.source;
      const entry = slides.get(key) ?? { label: item.label, mins: new Map(), votes: 0 };
      entry.mins.set(p, Math.min(entry.mins.get(p) ?? Infinity, h.distance));
      if (rank === 0) entry.votes++;
      slides.set(key, entry);
    });
  });
  const ceiling = hits.map((ranked) => ranked.at(-1)?.distance ?? Infinity);
  return [...slides]
    .map(([slide, e]) => ({
      slide,
      label: e.label,
      votes: e.votes,
      medianMinDistance: median(hits.map((_, p) => e.mins.get(p) ?? ceiling[p])),
    }))
    .sort((a, b) => a.medianMinDistance - b.medianMinDistance || b.votes - a.votes);
}
