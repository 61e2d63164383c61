/**
 * An index on disk, in one folder:
 * - `histoseek.sqlite` (WAL): items (source, label, slide, patient, level-0 box, ‖f_e‖), the
 *   model's id, the stored precision, and a generation that every change advances;
 * - `vectors.<f32|f16|i8>` (+ `vectors.i8-scale`): the L2-normalised descriptors f_e / ‖f_e‖, one
 *   row per item, at the precision chosen when the index was created — what search compares;
 * - `graph.usearch`: the first pass of two-stage search (see vectors/graph.ts), kept up to date by
 *   every writer.
 * The raw descriptor f_e is the stored unit vector times its norm; no command needs it at full
 * precision (`histoseek embed` writes it for export).
 *
 * Appends are crash-safe: a batch's rows are written and synced first, then one SQLite transaction
 * records the items and the new row count. On open, rows past that count (a crash between the
 * two) are cut off, so an interrupted run loses at most its last batch and never leaves half an
 * item. The graph is saved from time to time and on close, stamped with the rows it covers; a
 * writer adds what a crash left out, and readers scan rows past the stamp exactly.
 */
import { identityMismatch } from '../model/identity.js';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HistoseekError } from '../util/errors.js';
import { formatItemKey } from '../collections/item-key.js';
import { GRAPH_FILE, VectorGraph } from './vectors/graph.js';
import { VectorColumn } from './vectors/column.js';
import { modelFromMeta, modelMeta } from './model-meta.js';
import {
  type CreateOptions,
  DEFAULT_VECTOR_KIND,
  type ItemRecord,
  isVectorKind,
  type ModelIdentity,
  type StoredItem,
  type VectorKind,
} from './types.js';
import { WriterLock } from './writer-lock.js';

export const FORMAT = 'histoseek-index/3';
/** Indexes made before stored precisions and the graph: float32 vectors and raw descriptors. */
export const FORMAT_1 = 'histoseek-index/1';
/** Indexes whose items table held every item's metadata in full (~240 bytes an item). */
export const FORMAT_2 = 'histoseek-index/2';
const FORMAT_VERSIONS: Record<string, 1 | 2 | 3> = { [FORMAT_1]: 1, [FORMAT_2]: 2, [FORMAT]: 3 };
/** A writer saves the graph at least this often, bounding what a crash leaves for the next writer to add. */
const GRAPH_SAVE_INTERVAL_MS = 10 * 60 * 1000;
/** Rows read at a time when building or catching up the graph from the vector files. */
const GRAPH_CHUNK_ROWS = 65536;

/**
 * Format 3 keeps per-item metadata small (~60 bytes at ten million items, against ~240 in format
 * 2): what items of one file share (its path, slide, patient, collection) is stored once in
 * `sources`, labels once in `labels`, and a slide patch's source `<path>#region=x,y,w,h` is
 * rebuilt from its box instead of stored. The view `items` shows them as format 2's table did,
 * so every reader queries the same columns whatever the format.
 */
const ITEMS_SCHEMA = `
CREATE TABLE sources (id INTEGER PRIMARY KEY, path TEXT NOT NULL, slide TEXT, patient TEXT, collection TEXT);
CREATE UNIQUE INDEX sources_key ON sources(path, quote(slide), quote(patient), quote(collection));
CREATE INDEX sources_slide ON sources(slide);
CREATE TABLE labels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE patches (
  row INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  label_id INTEGER NOT NULL REFERENCES labels(id),
  x INTEGER, y INTEGER, width INTEGER, height INTEGER,
  region_in_source INTEGER NOT NULL,
  removed INTEGER NOT NULL DEFAULT 0,
  norm REAL
);
CREATE UNIQUE INDEX patches_source ON patches(source_id, region_in_source, ifnull(x, ''), ifnull(y, ''), ifnull(width, ''), ifnull(height, ''));
CREATE VIEW items AS SELECT p.row AS row,
  s.path || CASE WHEN p.region_in_source THEN '#region=' || p.x || ',' || p.y || ',' || p.width || ',' || p.height ELSE '' END AS source,
  l.name AS label, s.slide AS slide, s.patient AS patient, p.x AS x, p.y AS y, p.width AS width, p.height AS height,
  s.collection AS collection, p.removed AS removed, p.norm AS norm
  FROM patches p JOIN sources s ON s.id = p.source_id JOIN labels l ON l.id = p.label_id;
`;
/** Tables every format since 2 has (an upgrade from format 1 adds them). */
const BASE_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (source TEXT PRIMARY KEY, reason TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS removed_rows (row INTEGER PRIMARY KEY);
`;

/** Writes items into format 3's tables (a writer's connection, inside its transaction). */
export class ItemWriter {
  private readonly findSource: Database.Statement;
  private readonly addSource: Database.Statement;
  private readonly findLabel: Database.Statement;
  private readonly addLabel: Database.Statement;
  private readonly dropTombstone: Database.Statement;
  private readonly insert: Database.Statement;

  /** @internal (better-sqlite3's types are a dev dependency: none in the published declarations) */
  constructor(db: Database.Database) {
    this.findSource = db
      .prepare('SELECT id FROM sources WHERE path = ? AND slide IS ? AND patient IS ? AND collection IS ?')
      .pluck();
    this.addSource = db.prepare('INSERT INTO sources (path, slide, patient, collection) VALUES (?, ?, ?, ?)');
    this.findLabel = db.prepare('SELECT id FROM labels WHERE name = ?').pluck();
    this.addLabel = db.prepare('INSERT INTO labels (name) VALUES (?)');
    this.dropTombstone = db.prepare(
      'DELETE FROM patches WHERE removed = 1 AND source_id IN (SELECT id FROM sources WHERE path = @path) AND region_in_source = @regionInSource AND x IS @x AND y IS @y AND width IS @width AND height IS @height',
    );
    this.insert = db.prepare(
      'INSERT INTO patches (row, source_id, label_id, x, y, width, height, region_in_source, removed, norm) VALUES (@row, @sourceId, @labelId, @x, @y, @width, @height, @regionInSource, @removed, @norm)',
    );
  }

  /** Records `item` at `row`; a removed record of the same source goes first (its row stays in removed_rows). */
  write(row: number, item: ItemRecord, norm: number | null, removed = false): void {
    const { path, regionInSource } = splitSource(item);
    const box = { x: item.x ?? null, y: item.y ?? null, width: item.width ?? null, height: item.height ?? null };
    if (!removed) this.dropTombstone.run({ path, regionInSource, ...box });
    const sourceId = this.sourceId(path, item.slide ?? null, item.patient ?? null, item.collection ?? null);
    this.insert.run({
      row,
      sourceId,
      labelId: this.labelId(item.label),
      ...box,
      regionInSource,
      removed: removed ? 1 : 0,
      norm,
    });
  }

  private sourceId(path: string, slide: string | null, patient: string | null, collection: string | null): number {
    const found = this.findSource.get(path, slide, patient, collection) as number | undefined;
    return found ?? Number(this.addSource.run(path, slide, patient, collection).lastInsertRowid);
  }

  private labelId(label: string): number {
    const found = this.findLabel.get(label) as number | undefined;
    return found ?? Number(this.addLabel.run(label).lastInsertRowid);
  }
}

/** The stored form of an item's source: its file's path, and whether `#region=<box>` follows it. */
export function splitSource(item: ItemRecord): { path: string; regionInSource: 0 | 1 } {
  const { x, y, width, height } = item;
  if (x != null && y != null && width != null && height != null) {
    const region = formatItemKey({ kind: 'region', path: '', box: { x, y, width, height } });
    if (item.source.endsWith(region)) return { path: item.source.slice(0, -region.length), regionInSource: 1 };
  }
  return { path: item.source, regionInSource: 0 };
}

const ITEM_COLUMNS = 'row, source, label, slide, patient, x, y, width, height, collection';

export class IndexStore {
  readonly column: VectorColumn;
  private committedRows: number;
  /** Prepared statements by SQL: the server reads meta and items on every request, and preparing costs more than running them. */
  private readonly statements = new Map<string, Database.Statement>();
  /** The writer's graph, loaded on its first change; null until then (and for readers). */
  private graph: VectorGraph | null = null;
  private graphSavedAt = 0;
  private graphDirty = false;
  private itemWriter: ItemWriter | null = null;

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
  }

  /**
   * Opens an existing index, read-only (the database too) unless `writable`: then it takes the
   * folder's writer lock, or uses `lock`, one its caller took; the store gives it back on close (or
   * when the open fails).
   */
  static open(dir: string, options: { writable?: boolean; lock?: WriterLock } = {}): IndexStore {
    const writable = options.writable || options.lock !== undefined;
    let lock = options.lock ?? null;
    let db: Database.Database | null = null;
    try {
      const file = indexDatabase(dir);
      if (writable) lock ??= WriterLock.acquire(dir);
      db = openDatabase(file, writable);
      const get = (key: string) =>
        (db!.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
      const format = get('format');
      const version = format === undefined ? undefined : FORMAT_VERSIONS[format];
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
      return new IndexStore(dir, db, model, kind, version, lock);
    } catch (err) {
      db?.close();
      lock?.release();
      throw err;
    }
  }

  /** Opens the index at `dir` for appending, creating it for `model` if it does not exist; another model's index is an error. */
  static openOrCreate(dir: string, model: ModelIdentity, options: CreateOptions = {}): IndexStore {
    mkdirSync(dir, { recursive: true });
    // Locked before it is created, so that two writers cannot both create it.
    const lock = WriterLock.acquire(dir);
    try {
      if (!existsSync(join(dir, 'histoseek.sqlite'))) createIndex(dir, model, options.vectors ?? DEFAULT_VECTOR_KIND);
    } catch (err) {
      lock.release();
      throw err;
    }
    const store = IndexStore.open(dir, { lock });
    try {
      store.assertModel(model);
      if (options.vectors && options.vectors !== store.vectorKind) {
        throw new HistoseekError(
          'BAD_OPTION',
          `${dir}: this index stores ${store.vectorKind} vectors; --vectors ${options.vectors} applies when an index is created (index into a new --db)`,
        );
      }
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
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
    const rows = this.db.prepare('SELECT source FROM items WHERE removed = 0').all() as { source: string }[];
    return new Set(rows.map((r) => r.source));
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
    this.itemWriter ??= new ItemWriter(this.db);
    const writer = this.itemWriter;
    const clearFailure = this.statement('DELETE FROM failures WHERE source = ?');
    const record = this.db.transaction(() => {
      items.forEach((item, i) => {
        clearFailure.run(item.source);
        writer.write(start + i, item, norms[i]);
      });
      this.setMeta('rows', String(start + items.length));
      this.advanceGeneration();
    });
    try {
      record();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_FULL')
        throw new Error(
          `${this.path('histoseek.sqlite')}: the disk is full; the items committed before this batch are intact — free some space and rerun to resume`,
          { cause: err },
        );
      throw err;
    }
    this.committedRows = start + items.length;
    this.graphAdd(start, normalised, items.length);
  }

  private advanceGeneration(): void {
    this.setMeta('generation', String(this.generation + 1));
  }

  recordFailure(source: string, reason: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO failures (source, reason, at) VALUES (?, ?, ?)')
      .run(source, reason, new Date().toISOString());
  }

  failures(): { source: string; reason: string }[] {
    return this.db.prepare('SELECT source, reason FROM failures ORDER BY source').all() as {
      source: string;
      reason: string;
    }[];
  }

  /** Marks the items of a slide, or under a folder, as removed, and drops them from the graph; returns how many. */
  remove(filter: { slide?: string; under?: string }): number {
    let sources: string;
    let params: string[];
    if (filter.slide !== undefined) {
      sources = 'slide = ?';
      params = [filter.slide];
    } else if (filter.under !== undefined) {
      // The folder itself names a file (a slide, say) or the folder its files are under.
      const prefix = filter.under.endsWith('/') ? filter.under : `${filter.under}/`;
      sources = 'path = ? OR substr(path, 1, length(?)) = ?';
      params = [filter.under, prefix, prefix];
    } else throw new Error('remove: give a slide or a folder');
    const where = `removed = 0 AND source_id IN (SELECT id FROM sources WHERE ${sources})`;
    const rows = this.db
      .prepare(`SELECT row FROM patches WHERE ${where}`)
      .pluck()
      .all(...params) as number[];
    const markRemoved = this.statement('INSERT OR IGNORE INTO removed_rows (row) VALUES (?)');
    this.db.transaction(() => {
      this.db.prepare(`UPDATE patches SET removed = 1 WHERE ${where}`).run(...params);
      for (const row of rows) markRemoved.run(row);
      if (rows.length) this.advanceGeneration();
    })();
    if (rows.length) {
      this.writerGraph().remove(rows);
      this.graphDirty = true;
    }
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
    const norm = this.statement('SELECT norm FROM items WHERE row = ?');
    return Float32Array.from(rows, (row) => {
      const n = (norm.get(row) as { norm: number | null } | undefined)?.norm;
      if (n == null) throw new HistoseekError('INDEX_DAMAGED', `${this.dir}: row ${row} has no recorded norm`);
      return n;
    });
  }

  /**
   * 1 for rows holding a live item, 0 for removed rows: read from the (short) list of removed rows,
   * not the items table, so it costs little at ten million items.
   */
  activeRows(): Uint8Array {
    if (this.formatVersion === 1) {
      const active = new Uint8Array(this.committedRows);
      for (const row of this.statement('SELECT row FROM items WHERE removed = 0').pluck().iterate() as Iterable<number>)
        if (row < active.length) active[row] = 1;
      return active;
    }
    const active = new Uint8Array(this.committedRows).fill(1);
    for (const row of this.statement('SELECT row FROM removed_rows').pluck().iterate() as Iterable<number>)
      if (row < active.length) active[row] = 0;
    return active;
  }

  /** Live items per slide (items without a slide left out). */
  slideCounts(): Map<string, number> {
    const rows = this.statement(
      'SELECT slide, count(*) AS n FROM items WHERE removed = 0 AND slide IS NOT NULL AND row < ? GROUP BY slide',
    ).all(this.committedRows) as { slide: string; n: number }[];
    return new Map(rows.map((r) => [r.slide, r.n]));
  }

  /** The rows of one slide's live items. */
  slideRows(slide: string): number[] {
    return this.statement('SELECT row FROM items WHERE slide = ? AND removed = 0 AND row < ?')
      .pluck()
      .all(slide, this.committedRows) as number[];
  }

  items(rows: number[]): StoredItem[] {
    const get = this.statement(`SELECT ${ITEM_COLUMNS} FROM items WHERE row = ?`);
    return rows.map((row) => get.get(row) as StoredItem);
  }

  /** The live items of `rows`, in order: undefined for a row past this store's count or removed. */
  liveItems(rows: number[]): (StoredItem | undefined)[] {
    const get = this.statement(`SELECT ${ITEM_COLUMNS} FROM items WHERE row = ? AND removed = 0 AND row < ?`);
    return rows.map((row) => get.get(row, this.committedRows) as StoredItem | undefined);
  }

  /** Every live item, by row. */
  allItems(): StoredItem[] {
    return this.db
      .prepare(`SELECT ${ITEM_COLUMNS} FROM items WHERE removed = 0 AND row < ? ORDER BY row`)
      .all(this.committedRows) as StoredItem[];
  }

  /** Live items per label. */
  labelCounts(): Map<string, number> {
    const rows = this.db
      .prepare('SELECT label, count(*) AS n FROM items WHERE removed = 0 AND row < ? GROUP BY label')
      .all(this.committedRows) as { label: string; n: number }[];
    return new Map(rows.map((r) => [r.label, r.n]));
  }

  /** The graph's stamp: rows below `rows` were all added (or removed) when it was saved. */
  graphStamp(): { rows: number; bytes: number } | null {
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

  /**
   * The writer's graph, brought up to date with the committed rows: loaded (and the rows a crash
   * left out added, removed rows dropped) on first use, or built from the stored rows.
   */
  private writerGraph(): VectorGraph {
    if (this.graph) return this.graph;
    const stamp = this.graphStamp();
    if (!stamp) return this.buildGraph();
    this.graph = VectorGraph.open(this.path(GRAPH_FILE), this.model.dim, stamp.bytes, { writable: true });
    this.graphSavedAt = Date.now();
    const removed = (this.db.prepare('SELECT row FROM removed_rows').pluck().all() as number[]).filter((row) =>
      this.graph!.contains(row),
    );
    this.graph.remove(removed);
    this.addStoredRows(stamp.rows, this.committedRows);
    this.graphDirty ||= removed.length > 0 || stamp.rows < this.committedRows;
    return this.graph;
  }

  /** Adds the live rows [start, end) to the writer's graph, read back from the vector files. */
  private addStoredRows(start: number, end: number): void {
    const active = this.activeRows();
    for (let first = start; first < end; first += GRAPH_CHUNK_ROWS) {
      const count = Math.min(GRAPH_CHUNK_ROWS, end - first);
      const vectors = this.column.readDecoded(first, count);
      const live: number[] = [];
      for (let i = 0; i < count; i++) if (active[first + i]) live.push(i);
      const picked = new Float32Array(live.length * this.model.dim);
      live.forEach((i, j) =>
        picked.set(vectors.subarray(i * this.model.dim, (i + 1) * this.model.dim), j * this.model.dim),
      );
      this.graph!.add(
        live.map((i) => first + i),
        picked,
      );
    }
  }

  /** A new graph over every live row; replaces any saved one (saved right away). */
  private buildGraph(): VectorGraph {
    this.graph = VectorGraph.create(this.model.dim);
    this.addStoredRows(0, this.committedRows);
    this.graphDirty = true;
    this.graphSavedAt = Date.now();
    this.saveGraph();
    return this.graph;
  }

  private graphAdd(start: number, normalised: Float32Array, rows: number): void {
    // A graph built just now from the files already holds these rows (add skips rows it holds).
    this.writerGraph().add(
      Array.from({ length: rows }, (_, i) => start + i),
      normalised,
    );
    this.graphDirty = true;
    if (Date.now() - this.graphSavedAt > GRAPH_SAVE_INTERVAL_MS) this.saveGraph();
  }

  /** Writes the graph (atomically), then stamps it with the rows it covers. */
  private saveGraph(): void {
    if (!this.graph || !this.graphDirty) return;
    let bytes: number;
    try {
      bytes = this.graph.save(this.path(GRAPH_FILE));
    } catch (err) {
      throw new Error(
        `${this.path(GRAPH_FILE)}: cannot save the search graph (${err instanceof Error ? err.message : String(err)}); the items are intact and searches scan what the saved graph lacks — free some space, then run 'histoseek index --db ${this.dir} --rebuild-graph'`,
        { cause: err },
      );
    }
    this.db.transaction(() => {
      this.setMeta('graph_rows', String(this.committedRows));
      this.setMeta('graph_bytes', String(bytes));
    })();
    this.graphDirty = false;
    this.graphSavedAt = Date.now();
  }

  /** Builds the graph anew over the live rows (a lost or damaged graph file). */
  rebuildGraph(): { items: number } {
    this.graph = null;
    return { items: this.buildGraph().size };
  }

  close(): void {
    try {
      this.saveGraph();
    } finally {
      this.column.close();
      this.db.close();
      this.lock?.release();
    }
  }
}

/** The database file of the index in `dir`; NOT_FOUND when there is none. */
export function indexDatabase(dir: string): string {
  const file = join(dir, 'histoseek.sqlite');
  if (!existsSync(file)) throw new HistoseekError('NOT_FOUND', `${dir}: not a histoseek index (no histoseek.sqlite)`);
  return file;
}

/** A new, empty index for `model` in `dir`: the database with its tables and meta. */
function createIndex(dir: string, model: ModelIdentity, vectors: VectorKind): void {
  const db = openDatabase(join(dir, 'histoseek.sqlite'), true, true);
  try {
    writeMeta(db, {
      format: FORMAT,
      ...modelMeta(model),
      rows: '0',
      vectors,
      generation: '0',
    });
  } finally {
    db.close();
  }
}

/** @internal */
export function writeMeta(db: Database.Database, values: Record<string, string>): void {
  const put = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
  db.transaction(() => {
    for (const [key, value] of Object.entries(values)) put.run(key, value);
  })();
}

/**
 * Creates the current format's tables: all of them in a new database; the items' in one being upgraded, whose own items table was moved aside.
 * @internal
 */
export function createSchema(db: Database.Database): void {
  db.exec(BASE_SCHEMA + ITEMS_SCHEMA);
}

/**
 * A reader's connection is read-only and changes nothing; a writer's journals to a WAL, synced.
 * `create` makes a new database with the current format's tables.
 * @internal
 */
export function openDatabase(file: string, writable: boolean, create = false): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: !writable, fileMustExist: !writable });
    if (writable) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      if (create) createSchema(db);
    }
    db.prepare('SELECT value FROM meta LIMIT 1').get();
  } catch (err) {
    db?.close();
    throw new HistoseekError(
      'INDEX_DAMAGED',
      `${file}: cannot be read as a histoseek index (${err instanceof Error ? err.message : String(err)}); nothing was changed`,
      { cause: err },
    );
  }
  return db;
}
