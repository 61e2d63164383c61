/**
 * The first pass of two-stage search: an HNSW graph (usearch) over int8 copies of the unit
 * descriptors, compared by cosine. int8 rather than one-bit codes (Hamming), which take less than half
 * the bytes but are too coarse to rank near neighbours: they need ten times the candidates for the
 * same recall (docs/performance.md#search-defaults-and-why).
 *
 * Keys are index rows. The graph is saved atomically (temporary file, then rename); readers map
 * the file into memory (usearch's view) instead of loading it, and map in all its pages at once
 * (populate-mapping.ts).
 */
import { existsSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { totalmem } from 'node:os';
import { type BatchMatches, Index, type Matches, MetricKind, ScalarKind } from 'usearch';
import { HistoseekError } from '../../util/errors.js';
import { populateMappings } from '../../util/populate-mapping.js';

export const GRAPH_FILE = 'graph.usearch';
/**
 * Graph degree M 16 (usearch's default), 32 for vectors wider than 512, whose graph of degree 16
 * lost recall at any candidate count, for a few per cent more bytes an item. A saved graph keeps its
 * degree (usearch reads it from the file). efConstruction 64 rather than usearch's 128: a build
 * markedly faster for a recall a little lower, since the build time is what limits an archive of
 * 10⁷. Both measured by bench:scale (docs/performance.md#search-defaults-and-why).
 */
const connectivity = (dim: number) => (dim > 512 ? 32 : 16);
const EXPANSION_ADD = 64;
const EXPANSION_SEARCH = 64;

export interface GraphHits {
  /** [queries × k] rows, nearest first by the graph's int8 cosine; -1 past the candidates found. */
  ids: Int32Array;
  k: number;
}

export class VectorGraph {
  private constructor(
    private readonly index: Index,
    readonly dim: number,
    private readonly threads: number,
  ) {}

  private static empty(dim: number): Index {
    return new Index({
      dimensions: dim,
      metric: MetricKind.Cos,
      quantization: ScalarKind.I8,
      connectivity: connectivity(dim),
      expansion_add: EXPANSION_ADD,
      expansion_search: EXPANSION_SEARCH,
      multi: false,
    });
  }

  static create(dim: number, threads = 2): VectorGraph {
    return new VectorGraph(VectorGraph.empty(dim), dim, threads);
  }

  /**
   * Opens a saved graph: loaded into memory to be changed (`writable`), else memory-mapped. A file
   * whose size differs from the one recorded when it was saved is refused before usearch reads it.
   */
  static open(
    path: string,
    dim: number,
    expectedBytes: number,
    o: { writable: boolean; threads?: number },
  ): VectorGraph {
    const fix = `rebuild it with 'histoseek index --db ${path.replace(/\/[^/]*$/, '')} --rebuild-graph'`;
    if (!existsSync(path))
      throw new HistoseekError(
        'INDEX_DAMAGED',
        `${path}: the search graph is missing; ${fix} (or search with --exact)`,
      );
    const bytes = statSync(path).size;
    if (bytes !== expectedBytes)
      throw new HistoseekError(
        'INDEX_DAMAGED',
        `${path}: the search graph is damaged (${bytes} bytes, ${expectedBytes} expected); ${fix} (or search with --exact)`,
      );
    const index = VectorGraph.empty(dim);
    try {
      if (o.writable) index.load(path);
      else index.view(path);
    } catch (err) {
      throw new HistoseekError(
        'INDEX_DAMAGED',
        `${path}: the search graph cannot be read (${err instanceof Error ? err.message : String(err)}); ${fix}`,
        { cause: err },
      );
    }
    if (index.dimensions() !== dim)
      throw new HistoseekError(
        'INDEX_DAMAGED',
        `${path}: the search graph holds ${index.dimensions()}-d vectors, the index ${dim}-d; ${fix}`,
      );
    // A graph that would crowd the machine's memory is left to fault in as queries touch it.
    if (!o.writable && bytes <= totalmem() / 2) populateMappings(path);
    return new VectorGraph(index, dim, o.threads ?? 2);
  }

  get size(): number {
    return this.index.size();
  }

  /** Links per node (M), as built. */
  get degree(): number {
    return this.index.connectivity();
  }

  /** Adds rows (unit vectors, rows.length × dim) not already in the graph. */
  add(rows: ArrayLike<number>, vectors: Float32Array): void {
    const dim = this.dim;
    const keep: number[] = [];
    const known = rows.length ? (this.index.contains(BigUint64Array.from(Array.from(rows, BigInt))) as boolean[]) : [];
    for (let i = 0; i < rows.length; i++) if (!known[i]) keep.push(i);
    if (!keep.length) return;
    const picked = keep.length === rows.length ? vectors : new Float32Array(keep.length * dim);
    if (picked !== vectors) keep.forEach((i, j) => picked.set(vectors.subarray(i * dim, (i + 1) * dim), j * dim));
    this.index.add(
      BigUint64Array.from(keep, (i) => BigInt(rows[i])),
      picked,
      this.threads,
    );
  }

  /** Drops rows from the graph (those it does not hold are ignored). */
  remove(rows: ArrayLike<number>): void {
    if (rows.length) this.index.remove(BigUint64Array.from(Array.from(rows, BigInt)));
  }

  contains(row: number): boolean {
    return this.index.contains(BigInt(row)) as boolean;
  }

  /** The `candidates` nearest rows of each query by the graph's int8 cosine, nearest first. */
  search(queries: Float32Array, nQueries: number, candidates: number): GraphHits {
    const k = candidates;
    const ids = new Int32Array(nQueries * k).fill(-1);
    if (nQueries === 0 || this.size === 0) return { ids, k };
    // usearch answers a lone query with Matches trimmed to what it found, a batch with BatchMatches
    // (its typings assume a flat array is one query).
    const found = this.index.search(queries.subarray(0, nQueries * this.dim), k, this.threads) as
      Matches | BatchMatches;
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
