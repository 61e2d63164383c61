/**
 * The first pass of two-stage search: an HNSW graph (usearch) over one-bit codes of the unit
 * descriptors, compared by Hamming distance. A code is the sign of each component after the
 * index's centre is subtracted (without centring, descriptors whose components share a sign would
 * all get nearly the same code). Measured on 10⁵ clustered 256-d vectors against usearch's int8
 * HNSW at the same degree: 180 against 404 bytes per item, and recall@10 after re-ranking 100
 * candidates 0.974 against 0.982 (400 candidates: 0.999 against 1.0) — so codes, with a few more
 * candidates re-ranked, keep the whole index within 1 KB per item.
 *
 * Keys are index rows. The graph is saved atomically (temporary file, then rename); readers map
 * the file into memory (usearch's view) instead of loading it.
 */
import { existsSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { type BatchMatches, Index, type Matches, MetricKind, ScalarKind } from 'usearch';

export const GRAPH_FILE = 'graph.usearch';
/** Graph degree M 16 and efConstruction 128: usearch's defaults, and the settings measured above. */
const CONNECTIVITY = 16;
const EXPANSION_ADD = 128;
const EXPANSION_SEARCH = 64;

export interface GraphHits {
  /** [queries × k] rows, -1 past the candidates found. */
  ids: Int32Array;
  k: number;
}

/** The codes of `rows` unit vectors: one 0/1 byte per component, as usearch's b1 keys take them. */
export function binaryCodes(vectors: Float32Array, rows: number, centre: Float32Array): Int8Array {
  const dim = centre.length;
  const codes = new Int8Array(rows * dim);
  for (let i = 0; i < rows * dim; i++) codes[i] = vectors[i] > centre[i % dim] ? 1 : 0;
  return codes;
}

/** The mean of `rows` vectors: the centre codes are taken around. */
export function meanVector(vectors: Float32Array, rows: number, dim: number): Float32Array {
  const centre = new Float32Array(dim);
  for (let i = 0; i < rows * dim; i++) centre[i % dim] += vectors[i];
  for (let j = 0; j < dim; j++) centre[j] /= Math.max(rows, 1);
  return centre;
}

export class CodeGraph {
  private constructor(
    private readonly index: Index,
    readonly centre: Float32Array,
    private readonly threads: number,
  ) {}

  private static empty(centre: Float32Array): Index {
    return new Index({
      dimensions: centre.length, metric: MetricKind.Hamming, quantization: ScalarKind.B1,
      connectivity: CONNECTIVITY, expansion_add: EXPANSION_ADD, expansion_search: EXPANSION_SEARCH, multi: false,
    });
  }

  static create(centre: Float32Array, threads = 2): CodeGraph {
    return new CodeGraph(CodeGraph.empty(centre), centre, threads);
  }

  /**
   * Opens a saved graph: loaded into memory to be changed (`writable`), else memory-mapped. A file
   * whose size differs from the one recorded when it was saved is refused before usearch reads it.
   */
  static open(path: string, centre: Float32Array, expectedBytes: number, o: { writable: boolean; threads?: number }): CodeGraph {
    const fix = `rebuild it with 'histoseek index --db ${path.replace(/\/[^/]*$/, '')} --rebuild-graph'`;
    if (!existsSync(path)) throw new Error(`${path}: the search graph is missing; ${fix} (or search with --exact)`);
    const bytes = statSync(path).size;
    if (bytes !== expectedBytes) throw new Error(`${path}: the search graph is damaged (${bytes} bytes, ${expectedBytes} expected); ${fix} (or search with --exact)`);
    const index = CodeGraph.empty(centre);
    try {
      if (o.writable) index.load(path);
      else index.view(path);
    } catch (err) {
      throw new Error(`${path}: the search graph cannot be read (${err instanceof Error ? err.message : String(err)}); ${fix}`);
    }
    if (index.dimensions() !== centre.length) throw new Error(`${path}: the search graph holds ${index.dimensions()}-d codes, the index ${centre.length}-d vectors; ${fix}`);
    return new CodeGraph(index, centre, o.threads ?? 2);
  }

  get size(): number {
    return this.index.size();
  }

  /** Adds rows (unit vectors, rows.length × dim) not already in the graph. */
  add(rows: ArrayLike<number>, vectors: Float32Array): void {
    const dim = this.centre.length;
    const keep: number[] = [];
    const known = rows.length ? (this.index.contains(BigUint64Array.from(Array.from(rows, BigInt))) as boolean[]) : [];
    for (let i = 0; i < rows.length; i++) if (!known[i]) keep.push(i);
    if (!keep.length) return;
    const picked = keep.length === rows.length ? vectors : new Float32Array(keep.length * dim);
    if (picked !== vectors) keep.forEach((i, j) => picked.set(vectors.subarray(i * dim, (i + 1) * dim), j * dim));
    this.index.add(BigUint64Array.from(keep, (i) => BigInt(rows[i])), binaryCodes(picked, keep.length, this.centre), this.threads);
  }

  /** Drops rows from the graph (those it does not hold are ignored). */
  remove(rows: ArrayLike<number>): void {
    if (rows.length) this.index.remove(BigUint64Array.from(Array.from(rows, BigInt)));
  }

  contains(row: number): boolean {
    return this.index.contains(BigInt(row)) as boolean;
  }

  /** The `candidates` nearest rows by Hamming distance of each query's code. */
  search(queries: Float32Array, nQueries: number, candidates: number): GraphHits {
    const k = candidates;
    const ids = new Int32Array(nQueries * k).fill(-1);
    if (nQueries === 0 || this.size === 0) return { ids, k };
    // usearch answers a lone query with Matches trimmed to what it found, a batch with BatchMatches
    // (its typings assume a flat array is one query).
    const found = this.index.search(binaryCodes(queries, nQueries, this.centre), k, this.threads) as Matches | BatchMatches;
    const counts = 'counts' in found ? found.counts : BigUint64Array.of(BigInt(found.keys.length));
    for (let q = 0; q < nQueries; q++) {
      for (let j = 0; j < Number(counts[q]); j++) ids[q * k + j] = Number(found.keys[q * k + j]);
    }
    return { ids, k };
  }

  /** Writes the graph to `path` atomically; returns its size in bytes. */
  save(path: string): number {
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      this.index.save(temporary);
      const bytes = statSync(temporary).size;
      renameSync(temporary, path);
      return bytes;
    } catch (error) {
      if (existsSync(temporary)) unlinkSync(temporary);
      throw error;
    }
  }
}
