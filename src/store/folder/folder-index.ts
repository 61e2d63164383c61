/**
 * An index on disk, in one folder, read and written synchronously in one thread (FolderStore puts
 * it behind the ItemStore interface; search workers and upkeep open it directly):
 * - `histoseek.sqlite` (WAL, schema.ts): items (source, label, slide, patient, level-0 box, ‖f_e‖),
 *   the model's id, the stored precision, and a generation that every change advances;
 * - `vectors.<f32|f16|i8>` (+ `vectors.i8-scale`, vectors/column.ts): the L2-normalised descriptors
 *   f_e / ‖f_e‖, one row per item, at the precision chosen when the index was created — what search
 *   compares;
 * - `graph.usearch`: the first pass of two-stage search (vectors/graph.ts), kept up to date by every
 *   writer (graph-upkeep.ts).
 * The raw descriptor f_e is the stored unit vector times its norm; no command needs it at full
 * precision (`histoseek embed` writes it for export).
 *
 * Appends are crash-safe: a batch's rows are written and synced first, then one SQLite transaction
 * records the items and the new row count. On open, rows past that count (a crash between the
 * two) are cut off, so an interrupted run loses at most its last batch and never leaves half an
 * item. The graph is saved from time to time and on close, stamped with the rows it covers; a
 * writer adds what a crash left out, and readers scan rows past the stamp exactly.
 */
import type Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { identityMismatch } from '../../model/identity.js';
import { HistoseekError } from '../../util/errors.js';
import { modelFromMeta } from '../model-meta.js';
import {
  type CreateOptions,
  DEFAULT_VECTOR_KIND,
  type ItemRecord,
  isVectorKind,
  type ModelIdentity,
  type StoredItem,
  type VectorKind,
} from '../types.js';
import { VectorColumn } from '../vectors/column.js';
import { GRAPH_FILE, VectorGraph } from '../vectors/graph.js';
import { type GraphStamp, GraphUpkeep } from './graph-upkeep.js';
import { ItemTables } from './items.js';
import { WriterLock } from './lock.js';
import { createIndex, DATABASE_FILE, formatVersion, indexDatabase, metaValue, openDatabase } from './schema.js';

export class FolderIndex {
  readonly column: VectorColumn;
  private committedRows: number;
  /** Prepared statements by SQL: the server reads meta and items on every request, and preparing costs more than running them. */
  private readonly statements = new Map<string, Database.Statement>();
  private readonly tables: ItemTables;
  /** The writer's side of the search graph (a reader never changes it). */
  private readonly graph: GraphUpkeep;

  private constructor(
    readonly dir: string,
    private readonly db: Database.Database,
    readonly model: ModelIdentity,
    readonly vectorKind: VectorKind,
    /** Below 3 for an index made by an earlier histoseek: readable, but changed only after `--upgrade`. */
    readonly formatVersion: 1 | 2 | 3,
    private readonly lock: WriterLock | null,
  ) {
    const writable = lock !== null;
    this.column = new VectorColumn(dir, vectorKind, model.dim, writable);
    this.committedRows = Number(this.meta('rows') ?? 0);
    const held = this.column.rows();
    if (held < this.committedRows) {
      this.column.close();
      throw new HistoseekError(
        'INDEX_DAMAGED',
        `${this.column.describe()}: holds ${held} rows but the database records ${this.committedRows}; the index is damaged`,
      );
    }
    // Rows past the count belong to a batch whose commit never happened (only the writer cuts them:
    // for a reader they may be a live writer's batch in flight).
    if (writable) this.column.truncate(this.committedRows);
    this.tables = new ItemTables(db, (sql) => this.statement(sql), formatVersion, dir);
    this.graph = new GraphUpkeep({
      dir,
      file: this.path(GRAPH_FILE),
      dim: model.dim,
      column: this.column,
      rows: () => this.committedRows,
      activeRows: () => this.activeRows(),
      removedRows: () => this.tables.removedRows(),
      stamp: () => this.graphStamp(),
      saveStamp: (stamp) =>
        this.db.transaction(() => {
          this.setMeta('graph_rows', String(stamp.rows));
          this.setMeta('graph_bytes', String(stamp.bytes));
        })(),
    });
  }

  /**
   * Opens an existing index, read-only (the database too) unless `writable`: then it takes the
   * folder's writer lock, or uses `lock`, one its caller took; the index gives it back on close (or
   * when the open fails).
   */
  static open(dir: string, options: { writable?: boolean; lock?: WriterLock } = {}): FolderIndex {
    const writable = options.writable || options.lock !== undefined;
    let lock = options.lock ?? null;
    let db: Database.Database | null = null;
    try {
      const file = indexDatabase(dir);
      if (writable) lock ??= WriterLock.acquire(dir);
      db = openDatabase(file, writable);
      const get = (key: string) => metaValue(db!, key);
      const format = get('format');
      const version = formatVersion(format);
      if (version === undefined)
        throw new HistoseekError('INDEX_DAMAGED', `${file}: not a histoseek index (format '${format ?? 'none'}')`);
      if (version < 3 && writable)
        throw new HistoseekError(
          'INDEX_OUTDATED',
          `${dir}: this index was made by an earlier histoseek (format ${version}); convert it first with 'histoseek index --db ${dir} --upgrade' (nothing is lost)`,
        );
      const kind = version === 1 ? 'f32' : (get('vectors') ?? '');
      if (!isVectorKind(kind)) throw new HistoseekError('INDEX_DAMAGED', `${file}: unknown stored precision '${kind}'`);
      const model = modelFromMeta(get);
      return new FolderIndex(dir, db, model, kind, version, lock);
    } catch (err) {
      db?.close();
      lock?.release();
      throw err;
    }
  }

  /** Opens the index at `dir` for appending, creating it for `model` if it does not exist; another model's index is an error. */
  static openOrCreate(dir: string, model: ModelIdentity, options: CreateOptions = {}): FolderIndex {
    mkdirSync(dir, { recursive: true });
    // Locked before it is created, so that two writers cannot both create it.
    const lock = WriterLock.acquire(dir);
    try {
      if (!existsSync(join(dir, DATABASE_FILE))) createIndex(dir, model, options.vectors ?? DEFAULT_VECTOR_KIND);
    } catch (err) {
      lock.release();
      throw err;
    }
    const index = FolderIndex.open(dir, { lock });
    try {
      index.assertModel(model);
      if (options.vectors && options.vectors !== index.vectorKind) {
        throw new HistoseekError(
          'BAD_OPTION',
          `${dir}: this index stores ${index.vectorKind} vectors; --vectors ${options.vectors} applies when an index is created (index into a new --db)`,
        );
      }
    } catch (err) {
      index.close();
      throw err;
    }
    return index;
  }

  /** Throws unless `model` is the model this index was built with. */
  assertModel(model: Pick<ModelIdentity, 'id' | 'hash'>): void {
    const mismatch = identityMismatch(this.dir, 'index', this.model, model);
    if (mismatch) throw new HistoseekError('WRONG_MODEL', mismatch);
  }

  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) this.statements.set(sql, (prepared = this.db.prepare(sql)));
    return prepared;
  }

  meta(key: string): string | undefined {
    return (this.statement('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.statement('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  /** Advances on every append and removal: a reader whose generation differs is out of date. */
  get generation(): number {
    return Number(this.meta('generation') ?? 0);
  }

  /** A file of this index. */
  path(name: string): string {
    return join(this.dir, name);
  }

  get rows(): number {
    return this.committedRows;
  }

  /** Sources already stored (and not removed), to skip on a rerun. */
  storedSources(): Set<string> {
    return this.tables.storedSources();
  }

  /** Appends a batch: unit vectors (n × dim, one item per row) and each descriptor's norm ‖f_e‖. */
  append(items: ItemRecord[], normalised: Float32Array, norms: Float32Array): void {
    const dim = this.model.dim;
    if (normalised.length !== items.length * dim || norms.length !== items.length)
      throw new Error(
        `append: ${items.length} items need ${items.length * dim} vector values and ${items.length} norms`,
      );
    const start = this.committedRows;
    this.column.write(start, normalised, items.length);
    this.column.sync();
    const record = this.db.transaction(() => {
      this.tables.append(start, items, norms);
      this.setMeta('rows', String(start + items.length));
      this.advanceGeneration();
    });
    try {
      record();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_FULL')
        throw new Error(
          `${this.path(DATABASE_FILE)}: the disk is full; the items committed before this batch are intact — free some space and rerun to resume`,
          { cause: err },
        );
      throw err;
    }
    this.committedRows = start + items.length;
    this.graph.added(start, normalised, items.length);
  }

  private advanceGeneration(): void {
    this.setMeta('generation', String(this.generation + 1));
  }

  recordFailure(source: string, reason: string): void {
    this.tables.recordFailure(source, reason);
  }

  failures(): { source: string; reason: string }[] {
    return this.tables.failures();
  }

  /** Marks the items of a slide, or under a folder, as removed, and drops them from the graph; returns how many. */
  remove(filter: { slide?: string; under?: string }): number {
    const rows = this.tables.remove(filter, () => this.advanceGeneration());
    if (rows.length) this.graph.removed(rows);
    return rows.length;
  }

  /** Normalised vectors of `rows`, decoded from the stored precision (rows.length × dim). */
  vectors(rows: ArrayLike<number>): Float32Array {
    return this.column.readRows(rows);
  }

  /** The cosine of each of `rows` with the unit vector `query`, as `vectors` would give it, read row by row. */
  cosines(rows: ArrayLike<number>, query: Float32Array): Float64Array {
    return this.column.dotRows(rows, query);
  }

  /** The raw descriptors f_e of `rows` (docs/model.md#descriptor keeps them): the stored unit vector times its norm, at the stored precision. */
  rawVectors(rows: number[]): Float32Array {
    const out = this.vectors(rows);
    const norms = this.norms(rows);
    const dim = this.model.dim;
    rows.forEach((_, i) => {
      for (let j = i * dim; j < (i + 1) * dim; j++) out[j] *= norms[i];
    });
    return out;
  }

  /** Each row's ‖f_e‖. */
  norms(rows: number[]): Float32Array {
    return this.tables.norms(rows);
  }

  /** 1 for rows holding a live item, 0 for removed rows. */
  activeRows(): Uint8Array {
    return this.tables.activeRows(this.committedRows);
  }

  /** Live items per slide (items without a slide left out). */
  slideCounts(): Map<string, number> {
    return this.tables.slideCounts(this.committedRows);
  }

  /** The rows of one slide's live items. */
  slideRows(slide: string): number[] {
    return this.tables.slideRows(slide, this.committedRows);
  }

  /** The items of `rows`, removed ones included. */
  items(rows: number[]): StoredItem[] {
    return this.tables.items(rows);
  }

  /** The live items of `rows`, in order: undefined for a row past this index's count or removed. */
  liveItems(rows: number[]): (StoredItem | undefined)[] {
    return this.tables.liveItems(rows, this.committedRows);
  }

  /** Every live item, by row. */
  allItems(): StoredItem[] {
    return this.tables.allItems(this.committedRows);
  }

  /** Live items per label. */
  labelCounts(): Map<string, number> {
    return this.tables.labelCounts(this.committedRows);
  }

  /** The graph's stamp: rows below `rows` were all added (or removed) when it was saved. */
  graphStamp(): GraphStamp | null {
    const rows = this.meta('graph_rows');
    return rows === undefined ? null : { rows: Number(rows), bytes: Number(this.meta('graph_bytes')) };
  }

  /** The saved graph, memory-mapped for searching; null for an index that has none (empty, or made before format 2). */
  openGraph(threads = 2): VectorGraph | null {
    const stamp = this.graphStamp();
    return stamp
      ? VectorGraph.open(this.path(GRAPH_FILE), this.model.dim, stamp.bytes, { writable: false, threads })
      : null;
  }

  /** Builds the graph anew over the live rows (a lost or damaged graph file). */
  rebuildGraph(): { items: number } {
    return { items: this.graph.rebuild() };
  }

  close(): void {
    try {
      this.graph.save();
    } finally {
      this.column.close();
      this.db.close();
      this.lock?.release();
    }
  }
}
