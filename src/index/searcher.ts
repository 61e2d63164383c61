/**
 * Search over an index: the query descriptors (normalised) against every live item, exact by
 * default, or through the HNSW graph when the index has one and it is asked for.
 */
import { loadAnn } from './ann.js';
import { ExactSearch, type SearchHits } from './exact-search.js';
import type { HnswIndex } from './hnsw.js';
import type { IndexStore, StoredItem } from './store.js';

export interface Hit {
  row: number;
  /** Squared L2 between unit vectors: 2 − 2·cosine. */
  distance: number;
}

/**
 * Rows queries must not return (their own slide, say), besides removed items. Queries of the same
 * group share their exclusions, so they are searched together in one batch.
 */
export interface Exclusion {
  groupOf(query: number): string;
  excludes(group: string, row: number): boolean;
}

export interface SearchOptions {
  k: number;
  exclude?: Exclusion;
}

export class Searcher {
  private constructor(
    readonly store: IndexStore,
    private readonly vectors: Float32Array,
    private readonly active: Uint8Array,
    private readonly exact: ExactSearch,
    private readonly ann: HnswIndex | null,
  ) {}

  /** With `ann`, searches go through the index's HNSW graph (approximate) instead of a full scan. */
  static async open(store: IndexStore, options: { threads?: number; ann?: boolean } = {}): Promise<Searcher> {
    const ann = options.ann ? loadAnn(store, options.threads) : null;
    const exact = await ExactSearch.create(store.model.dim, { threads: options.threads });
    return new Searcher(store, store.loadVectors(), store.activeRows(), exact, ann);
  }

  /** HNSW hits with the skipped rows filtered out, or null when too few remain (the exact scan answers then). */
  private annSearch(ann: HnswIndex, batch: Float32Array, n: number, k: number, skip: (row: number) => boolean): SearchHits | null {
    const wide = ann.search(batch, Math.min(ann.size, Math.max(4 * k, k + 64)));
    const ids = new Int32Array(n * k).fill(-1);
    const distances = new Float32Array(n * k).fill(Infinity);
    for (let q = 0; q < n; q++) {
      let kept = 0;
      for (let j = 0; j < wide.k && kept < k; j++) {
        const id = wide.ids[q * wide.k + j];
        if (id < 0 || skip(id)) continue;
        ids[q * k + kept] = id;
        distances[q * k + kept] = wide.distances[q * wide.k + j];
        kept++;
      }
      if (kept < Math.min(k, ann.size)) return null;
    }
    return { ids, distances, k };
  }

  get dim(): number {
    return this.store.model.dim;
  }

  /** Ranked hits for each of `n` normalised query vectors. */
  async search(queries: Float32Array, n: number, o: SearchOptions): Promise<Hit[][]> {
    const out: Hit[][] = new Array(n);
    const groups = new Map<string, number[]>();
    for (let q = 0; q < n; q++) {
      const key = o.exclude?.groupOf(q) ?? '';
      groups.set(key, [...(groups.get(key) ?? []), q]);
    }
    for (const [key, group] of groups) {
      const batch = new Float32Array(group.length * this.dim);
      group.forEach((q, i) => batch.set(queries.subarray(q * this.dim, (q + 1) * this.dim), i * this.dim));
      const skip = (row: number) => !this.active[row] || (o.exclude?.excludes(key, row) ?? false);
      const hits = (this.ann && this.annSearch(this.ann, batch, group.length, o.k, skip)) || (await this.exact.search(this.vectors, this.active.length, batch, group.length, o.k, skip));
      group.forEach((q, i) => {
        const ranked: Hit[] = [];
        for (let j = 0; j < hits.k; j++) {
          const id = hits.ids[i * hits.k + j];
          if (id >= 0) ranked.push({ row: id, distance: hits.distances[i * hits.k + j] });
        }
        out[q] = ranked;
      });
    }
    return out;
  }

  items(hits: Hit[]): (StoredItem & { distance: number })[] {
    const items = this.store.items(hits.map((h) => h.row));
    return items.map((item, i) => ({ ...item, distance: hits[i].distance }));
  }

  async release(): Promise<void> {
    await this.exact.release();
  }
}
