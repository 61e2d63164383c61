/**
 * An index on disk, in one folder:
 * - `histoseek.sqlite` (WAL): items (source, label, slide, patient, level-0 box) and the model's id;
 * - `vectors.f32`: L2-normalised descriptors, one row per item (what search compares);
 * - `raw.f32`: the raw descriptors f_e, same rows (the spec keeps them).
 * Appends are crash-safe: a batch's rows are written and synced to both files first, then one
 * SQLite transaction records the items and the new row count. On open, rows past that count (a
 * crash between the two) are cut off, so an interrupted run loses at most its last batch and
 * never leaves half an item.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, statSync, writeSync, writeFileSync, unlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FORMAT = 'histoseek-index/1';

export interface ModelIdentity {
  /** Human-readable: the checkpoint path or the built-in model's description. */
  id: string;
  hash: string;
  /** The checkpoint file, when the model came from one (lets search load the same model). */
  weightsPath?: string;
  dim: number;
  inputSize: number;
}

export interface ItemRecord {
  source: string;
  label: string;
  slide?: string | null;
  patient?: string | null;
  /** Level-0 box of a slide patch. */
  x?: number | null;
  y?: number | null;
  width?: number | null;
  height?: number | null;
  /** The collection root (or slide folder) the item was indexed from. */
  collection?: string | null;
}

export interface StoredItem extends ItemRecord {
  row: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  row INTEGER PRIMARY KEY,
  source TEXT NOT NULL UNIQUE,
  label TEXT NOT NULL,
  slide TEXT, patient TEXT,
  x INTEGER, y INTEGER, width INTEGER, height INTEGER,
  collection TEXT,
  removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS items_slide ON items(slide);
CREATE INDEX IF NOT EXISTS items_collection ON items(collection);
CREATE TABLE IF NOT EXISTS failures (source TEXT PRIMARY KEY, reason TEXT NOT NULL, at TEXT NOT NULL);
`;

class VectorFile {
  private fd: number;

  constructor(readonly path: string, readonly dim: number, writable: boolean) {
    this.fd = openSync(path, writable ? (existsSync(path) ? 'r+' : 'w+') : 'r');
  }

  rows(): number {
    return Math.floor(statSync(this.path).size / (4 * this.dim));
  }

  truncate(rows: number): void {
    ftruncateSync(this.fd, rows * this.dim * 4);
  }

  write(row: number, data: Float32Array): void {
    writeSync(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, row * this.dim * 4);
  }

  sync(): void {
    fsyncSync(this.fd);
  }

  readAll(rows: number): Float32Array {
    const out = new Float32Array(rows * this.dim);
    const bytes = new Uint8Array(out.buffer);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(this.fd, bytes, done, Math.min(bytes.length - done, 1 << 30), done);
      if (n === 0) throw new Error(`${this.path}: shorter than the ${rows} rows the database records`);
      done += n;
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export class IndexStore {
  private readonly vectors: VectorFile;
  private readonly raw: VectorFile;
  private committedRows: number;
  /** Prepared statements by SQL: the server reads meta and items on every request, and preparing costs more than running them. */
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    readonly dir: string,
    private readonly db: Database.Database,
    readonly model: ModelIdentity,
    private readonly lockPath: string | null,
  ) {
    const writable = lockPath !== null;
    this.vectors = new VectorFile(join(dir, 'vectors.f32'), model.dim, writable);
    this.raw = new VectorFile(join(dir, 'raw.f32'), model.dim, writable);
    this.committedRows = Number(this.meta('rows') ?? 0);
    for (const file of [this.vectors, this.raw]) {
      if (file.rows() < this.committedRows) throw new Error(`${file.path}: holds ${file.rows()} rows but the database records ${this.committedRows}; the index is damaged`);
      // Rows past the count belong to a batch whose commit never happened (only the writer cuts them:
      // for a reader they may be a live writer's batch in flight).
      if (writable) file.truncate(this.committedRows);
    }
  }

  /** Opens an existing index (read-only unless `writable`). */
  static open(dir: string, options: { writable?: boolean } = {}): IndexStore {
    const file = join(dir, 'histoseek.sqlite');
    if (!existsSync(file)) throw new Error(`${dir}: not a histoseek index (no histoseek.sqlite)`);
    for (const name of ['vectors.f32', 'raw.f32']) {
      if (!existsSync(join(dir, name)) && !options.writable) throw new Error(`${dir}: the index is damaged (${name} is missing)`);
    }
    const lock = options.writable ? acquireLock(dir) : null;
    try {
      const db = openDatabase(file);
      const get = (key: string) => (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
      if (get('format') !== FORMAT) throw new Error(`${file}: not a histoseek index (format '${get('format') ?? 'none'}')`);
      const model: ModelIdentity = { id: get('model_id')!, hash: get('model_hash')!, weightsPath: get('model_weights') || undefined, dim: Number(get('dim')), inputSize: Number(get('input_size')) };
      return new IndexStore(dir, db, model, lock);
    } catch (err) {
      if (lock) unlinkSync(lock);
      throw err;
    }
  }

  /** Opens the index at `dir` for appending, creating it for `model` if it does not exist; another model's index is an error. */
  static openOrCreate(dir: string, model: ModelIdentity): IndexStore {
    if (!existsSync(join(dir, 'histoseek.sqlite'))) {
      mkdirSync(dir, { recursive: true });
      const db = openDatabase(join(dir, 'histoseek.sqlite'));
      const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      db.transaction(() => {
        put.run('format', FORMAT);
        put.run('model_id', model.id);
        put.run('model_hash', model.hash);
        put.run('model_weights', model.weightsPath ?? '');
        put.run('dim', String(model.dim));
        put.run('input_size', String(model.inputSize));
        put.run('rows', '0');
      })();
      db.close();
    }
    const store = IndexStore.open(dir, { writable: true });
    try {
      store.assertModel(model);
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }

  /** Throws unless `model` is the model this index was built with. */
  assertModel(model: Pick<ModelIdentity, 'id' | 'hash'>): void {
    if (model.hash !== this.model.hash) {
      throw new Error(
        `${this.dir}: this index was built with model '${this.model.id}' (hash ${this.model.hash.slice(0, 12)}), ` +
          `not '${model.id}' (hash ${model.hash.slice(0, 12)})` + (this.model.weightsPath ? `; pass --weights ${this.model.weightsPath}` : ''),
      );
    }
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
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  /** A file of this index (e.g. the HNSW graph). */
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

  /** Appends a batch: vectors (normalised) and raw descriptors, n × dim each, one item per row. */
  append(items: ItemRecord[], normalised: Float32Array, raw: Float32Array): void {
    const dim = this.model.dim;
    if (normalised.length !== items.length * dim || raw.length !== items.length * dim) throw new Error(`append: ${items.length} items need ${items.length * dim} values per array`);
    const start = this.committedRows;
    this.vectors.write(start, normalised);
    this.raw.write(start, raw);
    this.vectors.sync();
    this.raw.sync();
    const dropTombstone = this.db.prepare('DELETE FROM items WHERE source = ? AND removed = 1');
    const insert = this.db.prepare(
      'INSERT INTO items (row, source, label, slide, patient, x, y, width, height, collection) VALUES (@row, @source, @label, @slide, @patient, @x, @y, @width, @height, @collection)',
    );
    const setRows = this.db.prepare("UPDATE meta SET value = ? WHERE key = 'rows'");
    const clearFailure = this.db.prepare('DELETE FROM failures WHERE source = ?');
    this.db.transaction(() => {
      items.forEach((item, i) => {
        dropTombstone.run(item.source);
        clearFailure.run(item.source);
        const orNull = <T>(v: T | undefined) => (v === undefined ? null : v);
        insert.run({
          row: start + i, source: item.source, label: item.label, slide: orNull(item.slide), patient: orNull(item.patient),
          x: orNull(item.x), y: orNull(item.y), width: orNull(item.width), height: orNull(item.height), collection: orNull(item.collection),
        });
      });
      setRows.run(String(start + items.length));
    })();
    this.committedRows = start + items.length;
  }

  recordFailure(source: string, reason: string): void {
    this.db.prepare('INSERT OR REPLACE INTO failures (source, reason, at) VALUES (?, ?, ?)').run(source, reason, new Date().toISOString());
  }

  failures(): { source: string; reason: string }[] {
    return this.db.prepare('SELECT source, reason FROM failures ORDER BY source').all() as { source: string; reason: string }[];
  }

  /** Marks the items of a slide, or under a folder, as removed; returns how many. */
  remove(filter: { slide?: string; under?: string }): number {
    if (filter.slide !== undefined) return this.db.prepare('UPDATE items SET removed = 1 WHERE slide = ? AND removed = 0').run(filter.slide).changes;
    if (filter.under !== undefined) {
      const prefix = filter.under.endsWith('/') ? filter.under : `${filter.under}/`;
      return this.db.prepare("UPDATE items SET removed = 1 WHERE removed = 0 AND (source = ? OR substr(source, 1, length(?)) = ?)").run(filter.under, prefix, prefix).changes;
    }
    throw new Error('remove: give a slide or a folder');
  }

  /** Normalised vectors of every row (removed ones included; see `activeRows`). */
  loadVectors(): Float32Array {
    return this.vectors.readAll(this.committedRows);
  }

  loadRawVectors(): Float32Array {
    return this.raw.readAll(this.committedRows);
  }

  /** 1 for rows holding a live item, 0 for removed rows. */
  activeRows(): Uint8Array {
    const active = new Uint8Array(this.committedRows);
    for (const { row } of this.db.prepare('SELECT row FROM items WHERE removed = 0').iterate() as Iterable<{ row: number }>) active[row] = 1;
    return active;
  }

  items(rows: number[]): StoredItem[] {
    const get = this.statement('SELECT row, source, label, slide, patient, x, y, width, height, collection FROM items WHERE row = ?');
    return rows.map((row) => get.get(row) as StoredItem);
  }

  /** Every live item, by row. */
  allItems(): StoredItem[] {
    return this.db.prepare('SELECT row, source, label, slide, patient, x, y, width, height, collection FROM items WHERE removed = 0 ORDER BY row').all() as StoredItem[];
  }

  /** Live items per label. */
  labelCounts(): Map<string, number> {
    const rows = this.db.prepare('SELECT label, count(*) AS n FROM items WHERE removed = 0 GROUP BY label').all() as { label: string; n: number }[];
    return new Map(rows.map((r) => [r.label, r.n]));
  }

  close(): void {
    this.vectors.close();
    this.raw.close();
    this.db.close();
    if (this.lockPath && existsSync(this.lockPath)) unlinkSync(this.lockPath);
  }
}

function openDatabase(file: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
  } catch (err) {
    throw new Error(`${file}: cannot be read as a histoseek index (${err instanceof Error ? err.message : String(err)}); nothing was changed`);
  }
  return db;
}

/** One writer at a time: a lock file holding the writer's pid; a lock left by a dead process is taken over. */
function acquireLock(dir: string): string {
  const path = join(dir, 'index.lock');
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) throw new Error(`${dir}: another histoseek process (pid ${pid}) is writing this index`);
  }
  writeFileSync(path, String(process.pid));
  return path;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
