/**
 * The writer's side of a folder index's search graph (vectors/graph.ts). The graph is loaded on the
 * writer's first change and brought up to date with the committed rows (the rows a crash left out
 * added, removed rows dropped), or built from the stored rows when there is none; every append and
 * removal changes it; it is saved atomically from time to time and on close, then stamped with the
 * rows it covers. Readers open the saved graph and scan the rows past its stamp exactly.
 */
import { VectorGraph } from '../vectors/graph.js';
import type { VectorColumn } from '../vectors/column.js';

/** A writer saves the graph at least this often, bounding what a crash leaves for the next writer to add. */
const SAVE_INTERVAL_MS = 10 * 60 * 1000;
/** Rows read at a time when building or catching up the graph from the vector files. */
const CHUNK_ROWS = 65536;

/** A saved graph's stamp: rows below `rows` were all added (or removed) when it was saved; `bytes`, its file's size. */
export interface GraphStamp {
  rows: number;
  bytes: number;
}

/** What the upkeep reads from the index folder, and how it records a saved graph's stamp. */
export interface GraphFolder {
  /** The index folder, for messages. */
  dir: string;
  /** The graph's file. */
  file: string;
  dim: number;
  column: VectorColumn;
  /** The rows committed now. */
  rows(): number;
  /** 1 for each live row below rows(). */
  activeRows(): Uint8Array;
  removedRows(): number[];
  stamp(): GraphStamp | null;
  saveStamp(stamp: GraphStamp): void;
}

export class GraphUpkeep {
  /** Loaded on the writer's first change; null until then. */
  private graph: VectorGraph | null = null;
  private savedAt = 0;
  private dirty = false;

  constructor(private readonly folder: GraphFolder) {}

  /** Adds the rows of a batch just committed from row `start` on (unit vectors, rows × dim). */
  added(start: number, normalised: Float32Array, rows: number): void {
    // A graph built just now from the files already holds these rows (add skips rows it holds).
    this.current().add(
      Array.from({ length: rows }, (_, i) => start + i),
      normalised,
    );
    this.dirty = true;
    if (Date.now() - this.savedAt > SAVE_INTERVAL_MS) this.save();
  }

  /** Drops rows just removed. */
  removed(rows: number[]): void {
    this.current().remove(rows);
    this.dirty = true;
  }

  /** Builds the graph anew over the live rows (a lost or damaged graph file); returns how many it holds. */
  rebuild(): number {
    this.graph = null;
    return this.build().size;
  }

  /** Writes the graph (atomically) if it changed, then stamps it with the rows it covers. */
  save(): void {
    if (!this.graph || !this.dirty) return;
    const { file, dir } = this.folder;
    let bytes: number;
    try {
      bytes = this.graph.save(file);
    } catch (err) {
      throw new Error(
        `${file}: cannot save the search graph (${err instanceof Error ? err.message : String(err)}); the items are intact and searches scan what the saved graph lacks — free some space, then run 'histoseek index --db ${dir} --rebuild-graph'`,
        { cause: err },
      );
    }
    this.folder.saveStamp({ rows: this.folder.rows(), bytes });
    this.dirty = false;
    this.savedAt = Date.now();
  }

  /** The graph, brought up to date with the committed rows on first use. */
  private current(): VectorGraph {
    if (this.graph) return this.graph;
    const stamp = this.folder.stamp();
    if (!stamp) return this.build();
    const graph = VectorGraph.open(this.folder.file, this.folder.dim, stamp.bytes, { writable: true });
    this.graph = graph;
    this.savedAt = Date.now();
    const removed = this.folder.removedRows().filter((row) => graph.contains(row));
    graph.remove(removed);
    const rows = this.folder.rows();
    this.addStoredRows(stamp.rows, rows);
    this.dirty ||= removed.length > 0 || stamp.rows < rows;
    return graph;
  }

  /** A new graph over every live row; replaces any saved one (saved right away). */
  private build(): VectorGraph {
    const graph = VectorGraph.create(this.folder.dim);
    this.graph = graph;
    this.addStoredRows(0, this.folder.rows());
    this.dirty = true;
    this.savedAt = Date.now();
    this.save();
    return graph;
  }

  /** Adds the live rows [start, end) to the graph, read back from the vector files. */
  private addStoredRows(start: number, end: number): void {
    const { dim, column } = this.folder;
    const active = this.folder.activeRows();
    for (let first = start; first < end; first += CHUNK_ROWS) {
      const count = Math.min(CHUNK_ROWS, end - first);
      const vectors = column.readDecoded(first, count);
      const live: number[] = [];
      for (let i = 0; i < count; i++) if (active[first + i]) live.push(i);
      const picked = new Float32Array(live.length * dim);
      live.forEach((i, j) => picked.set(vectors.subarray(i * dim, (i + 1) * dim), j * dim));
      this.graph!.add(
        live.map((i) => first + i),
        picked,
      );
    }
  }
}
