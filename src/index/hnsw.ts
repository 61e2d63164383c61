/**
 * Approximate nearest-neighbour search (HNSW) through usearch, for stores too large to scan per
 * query. Hits have ExactSearch's shape and units (squared L2 on unit vectors), so the two compare
 * directly, e.g. with `recallAt`.
 */
import { rename, unlink } from 'node:fs/promises';
import { type BatchMatches, Index, type Matches, MetricKind, ScalarKind } from 'usearch';
import type { SearchHits } from './exact-search.js';

export interface HnswOptions {
  /** 'cos' (default) or 'l2sq'; either way hits report squared L2 on unit vectors. */
  metric?: 'cos' | 'l2sq';
  /** Graph degree M (omitted: usearch's default, 16). */
  connectivity?: number;
  /** Candidate list size while inserting, efConstruction (omitted: 128). */
  expansionAdd?: number;
  /** Candidate list size while searching, ef (omitted: 64); at least k is used. */
  expansionSearch?: number;
  /** Threads for add and search (default 2, this project's reference machine). */
  threads?: number;
}

export class HnswIndex {
  private readonly index: Index;
  private readonly metric: 'cos' | 'l2sq';
  private readonly threads: number;

  constructor(
    readonly dim: number,
    options: HnswOptions = {},
  ) {
    this.metric = options.metric ?? 'cos';
    this.threads = options.threads ?? 2;
    this.index = new Index({
      dimensions: dim,
      metric: this.metric === 'cos' ? MetricKind.Cos : MetricKind.L2sq,
      quantization: ScalarKind.F32,
      connectivity: options.connectivity ?? 0,
      expansion_add: options.expansionAdd ?? 0,
      expansion_search: options.expansionSearch ?? 0,
      multi: false,
    });
  }

  /** Loads an index written by `save`; `options` must repeat the metric it was built with. */
  static load(path: string, dim: number, options: HnswOptions = {}): HnswIndex {
    const hnsw = new HnswIndex(dim, options);
    hnsw.index.load(path);
    if (hnsw.index.dimensions() !== dim) throw new Error(`${path} holds ${hnsw.index.dimensions()}-d vectors, not ${dim}-d`);
    return hnsw;
  }

  get size(): number {
    return this.index.size();
  }

  /** Adds rows of `vectors` (ids.length × dim) under non-negative integer ids. */
  add(ids: ArrayLike<number>, vectors: Float32Array): void {
    if (vectors.length !== ids.length * this.dim) throw new Error(`${ids.length} ids need ${ids.length * this.dim} floats, got ${vectors.length}`);
    if (ids.length === 0) return;
    const keys = BigUint64Array.from(Array.from(ids, (id) => {
      if (!Number.isInteger(id) || id < 0) throw new Error(`ids must be non-negative integers, got ${id}`);
      return BigInt(id);
    }));
    this.index.add(keys, vectors, this.threads);
  }

  /** The k approximate nearest neighbours of each row of `queries`; -1 / Infinity pad missing hits. */
  search(queries: Float32Array, k: number): SearchHits {
    if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
    if (queries.length % this.dim !== 0) throw new Error(`queries length ${queries.length} is not a multiple of ${this.dim}`);
    const nQueries = queries.length / this.dim;
    const ids = new Int32Array(nQueries * k).fill(-1);
    const distances = new Float32Array(nQueries * k).fill(Infinity);
    if (nQueries === 0 || this.size === 0) return { ids, distances, k };
    // usearch's cos distance is 1 − cos, i.e. half the squared L2 distance between unit vectors.
    const scale = this.metric === 'cos' ? 2 : 1;
    // usearch answers a single query with Matches trimmed to what it found, a batch with BatchMatches
    // (its typings assume a flat array is one query).
    const matches = this.index.search(queries, k, this.threads) as Matches | BatchMatches;
    const counts = 'counts' in matches ? matches.counts : BigUint64Array.of(BigInt(matches.keys.length));
    for (let q = 0; q < nQueries; q++) {
      for (let j = 0; j < Number(counts[q]); j++) {
        ids[q * k + j] = Number(matches.keys[q * k + j]);
        distances[q * k + j] = Math.max(0, scale * matches.distances[q * k + j]);
      }
    }
    return { ids, distances, k };
  }

  /** Writes the index to `path` atomically: a temporary file beside it, then a rename. */
  async save(path: string): Promise<void> {
    const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
    try {
      this.index.save(temporary);
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  }
}

/** The fraction of all exact top-k ids (ignoring -1), over every query, that `annHits` also returned in that query's top k. */
export function recallAt(k: number, exactHits: SearchHits, annHits: SearchHits): number {
  if (k > exactHits.k || k > annHits.k) throw new Error(`recall@${k} needs hits with k ≥ ${k} (got ${exactHits.k} and ${annHits.k})`);
  const nQueries = exactHits.ids.length / exactHits.k;
  if (annHits.ids.length / annHits.k !== nQueries) throw new Error(`hits cover ${nQueries} and ${annHits.ids.length / annHits.k} queries`);
  let found = 0;
  let wanted = 0;
  for (let q = 0; q < nQueries; q++) {
    const ann = new Set(annHits.ids.subarray(q * annHits.k, q * annHits.k + k));
    for (const id of exactHits.ids.subarray(q * exactHits.k, q * exactHits.k + k)) {
      if (id === -1) continue;
      wanted++;
      if (ann.has(id)) found++;
    }
  }
  return wanted === 0 ? 1 : found / wanted;
}
