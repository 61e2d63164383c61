/**
 * Search over a folder index: the query descriptors (normalised) against every live item. Small
 * indexes are scanned exactly (streamed from the vector files); from TWO_STAGE_MIN_ROWS live items
 * on, search runs in two stages: the int8 graph proposes candidates, and the nearest of them by the
 * graph's distance are re-ranked exactly against the stored vectors read from disk. Rows the graph
 * does not cover yet (a writer appending right now, or a crash before its last save) are scanned
 * exactly and merged in.
 */
import type { VectorGraph } from '../vectors/graph.js';
import { ExactSearch, type SearchHits } from '../vectors/exact-search.js';
import { exclusionGroups, type SearcherOptions } from '../item-store.js';
import type { FolderIndex } from './folder-index.js';
import { type Hit, type SearchOptions, TWO_STAGE_MIN_ROWS } from '../types.js';

/**
 * Graph candidates per query when none are asked for, by live items and width. A fixed count's
 * recall falls as the graph grows, so the count grows with the archive; only the graph's search
 * time grows with it, since the re-ranked rows are capped (rerankedCount). Wider vectors need more
 * (their int8 graph ranks less exactly), dim / 256 times as many. The counts come from bench:scale
 * (docs/performance.md#search-defaults-and-why).
 */
export function defaultCandidates(liveItems: number, dim: number): number {
  const bySize = liveItems < 2_000_000 ? 320 : liveItems < 6_000_000 ? 640 : 2560;
  return bySize * Math.max(1, Math.round(dim / 256));
}

/**
 * Of a query's graph candidates, those re-ranked exactly: the nearest by the graph's int8 distance,
 * 8 per result and at least 100, times dim / 512 for vectors wider than 512. Each re-ranked row is
 * a read from disk, and the int8 order already holds the true neighbours near its top; wider
 * vectors, whose int8 copies round more of each distance, need more of them (bench:scale:
 * docs/performance.md#search-defaults-and-why).
 */
export function rerankedCount(k: number, dim: number): number {
  return Math.ceil(Math.max(100, 8 * k) * Math.max(1, dim / 512));
}

export class Searcher {
  private constructor(
    readonly index: FolderIndex,
    private readonly active: Uint8Array,
    private readonly exact: ExactSearch,
    private readonly graph: VectorGraph | null,
    /** Rows the graph covers; rows from here to the end are scanned. */
    private readonly graphRows: number,
    /** Graph candidates per query (at least 2k), of which rerankedCount(k, dim) are re-ranked. */
    readonly candidates: number,
  ) {}

  /**
   * `candidates`: graph candidates per query in two-stage search (default by size,
   * defaultCandidates): more is slower and closer to exact. `active`: the live rows to answer from
   * (default: the index's now), so a searcher opened later (in a worker) keeps another reader's snapshot.
   */
  static async open(index: FolderIndex, options: SearcherOptions & { active?: Uint8Array } = {}): Promise<Searcher> {
    const mode = options.mode ?? 'auto';
    const active = options.active ?? index.activeRows();
    const live = active.reduce((n, a) => n + a, 0);
    const candidates = options.candidates ?? defaultCandidates(live, index.model.dim);
    if (!Number.isInteger(candidates) || candidates < 1)
      throw new Error(`candidates must be a positive integer, got ${candidates}`);
    let graph: VectorGraph | null = null;
    if (mode === 'two-stage' || (mode === 'auto' && live >= TWO_STAGE_MIN_ROWS)) {
      graph = index.openGraph(options.threads);
      if (!graph && mode === 'two-stage') {
        throw new Error(
          `${index.dir}: has no search graph (${index.formatVersion === 1 ? `an index made by an earlier histoseek: 'histoseek index --db ${index.dir} --upgrade' builds one` : 'nothing indexed yet'}); search with --exact`,
        );
      }
    }
    const exact = await ExactSearch.create(index.model.dim, {
      threads: options.threads,
      kind: index.vectorKind,
      logger: options.logger,
    });
    return new Searcher(
      index,
      active,
      exact,
      graph,
      graph ? Math.min(index.graphStamp()!.rows, active.length) : 0,
      candidates,
    );
  }

  get dim(): number {
    return this.index.model.dim;
  }

  /** How this searcher answers: by scanning every row, or in two stages. */
  get mode(): 'exact' | 'two-stage' {
    return this.graph ? 'two-stage' : 'exact';
  }

  /** Ranked hits for each of `n` normalised query vectors. */
  async search(queries: Float32Array, n: number, o: SearchOptions): Promise<Hit[][]> {
    if (queries.length !== n * this.dim)
      throw new Error(
        `search: ${n} queries of this index need ${n * this.dim} values (${this.dim} each), got ${queries.length}`,
      );
    if (!Number.isInteger(o.k) || o.k < 1) throw new Error(`search: k must be a positive integer, got ${o.k}`);
    const out: Hit[][] = new Array(n);
    for (const { queries: group, excluded } of exclusionGroups(n, o.exclude)) {
      const batch = new Float32Array(group.length * this.dim);
      group.forEach((q, i) => batch.set(queries.subarray(q * this.dim, (q + 1) * this.dim), i * this.dim));
      const skip = (row: number) => !this.active[row] || excluded.has(row);
      const hits = this.graph
        ? await this.twoStage(this.graph, batch, group.length, o.k, skip)
        : await this.exact.scan(this.index.column, 0, this.active.length, batch, group.length, o.k, skip);
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

  /** The nearest graph candidates re-ranked exactly, merged with an exact scan of the rows the graph misses. */
  private async twoStage(
    graph: VectorGraph,
    batch: Float32Array,
    n: number,
    k: number,
    skip: (row: number) => boolean,
  ): Promise<SearchHits> {
    const dim = this.dim;
    const covered = this.graphRows;
    const eligible = (row: number) => row >= 0 && row < covered && !skip(row);
    const first = Math.max(this.candidates, 2 * k);
    const reranked = rerankedCount(k, dim);
    const found = graph.search(batch, n, first);
    const ids = new Int32Array(n * k).fill(-1);
    const distances = new Float32Array(n * k).fill(Infinity);
    for (let q = 0; q < n; q++) {
      const query = batch.subarray(q * dim, (q + 1) * dim);
      let rows = Array.from(found.ids.subarray(q * first, (q + 1) * first)).filter(eligible);
      // Exclusions (a whole slide, removed items) can eat the candidates: widen until k survive or the graph is exhausted.
      for (let candidates = first; rows.length < k && candidates < graph.size;) {
        candidates *= 4;
        rows = Array.from(graph.search(query, 1, candidates).ids).filter(eligible);
      }
      // The graph lists candidates nearest first: keep its best, then read them in file order.
      rows = rows.slice(0, reranked).sort((a, b) => a - b);
      const cosines = this.index.cosines(rows, query);
      const scored = rows.map((row, i) => ({ row, distance: Math.fround(Math.max(0, 2 - 2 * cosines[i])) }));
      scored.sort((a, b) => a.distance - b.distance || a.row - b.row);
      scored.slice(0, k).forEach((hit, j) => {
        ids[q * k + j] = hit.row;
        distances[q * k + j] = hit.distance;
      });
    }
    if (covered < this.active.length) {
      const tail = await this.exact.scan(this.index.column, covered, this.active.length, batch, n, k, skip);
      mergeInto({ ids, distances, k }, tail);
    }
    return { ids, distances, k };
  }

  async release(): Promise<void> {
    await this.exact.release();
  }
}

/** Merges `extra` into `best`, query by query, keeping the k best by (distance, row). */
function mergeInto(best: SearchHits, extra: SearchHits): void {
  const { k } = best;
  const nQueries = best.ids.length / k;
  for (let q = 0; q < nQueries; q++) {
    const all: Hit[] = [];
    for (const hits of [best, extra]) {
      for (let j = 0; j < hits.k; j++) {
        const row = hits.ids[q * hits.k + j];
        if (row >= 0) all.push({ row, distance: hits.distances[q * hits.k + j] });
      }
    }
    all.sort((a, b) => a.distance - b.distance || a.row - b.row);
    for (let j = 0; j < k; j++) {
      best.ids[q * k + j] = all[j]?.row ?? -1;
      best.distances[q * k + j] = all[j]?.distance ?? Infinity;
    }
  }
}
