/**
 * The database of a folder index, `histoseek.sqlite`: its formats, its tables, its meta entries,
 * and how a connection to it is opened. Format 3 keeps per-item metadata small (~60 bytes at ten
 * million items, against ~240 in format 2): what items of one file share (its path, slide, patient,
 * collection) is stored once in `sources`, labels once in `labels`, and a slide patch's key keeps
 * its slide's path in `sources` and its box in `patches` (items.ts reads and writes them).
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HistoseekError } from '../../util/errors.js';
import { modelMeta } from '../model-meta.js';
import type { ModelIdentity, VectorKind } from '../types.js';

export const DATABASE_FILE = 'histoseek.sqlite';
export const FORMAT = 'histoseek-index/3';
/** Indexes made before stored precisions and the graph: float32 vectors and raw descriptors. */
export const FORMAT_1 = 'histoseek-index/1';
/** Indexes whose items table held every item's metadata in full. */
export const FORMAT_2 = 'histoseek-index/2';
const FORMAT_VERSIONS: Record<string, 1 | 2 | 3> = { [FORMAT_1]: 1, [FORMAT_2]: 2, [FORMAT]: 3 };

/** The version of a `format` meta entry; undefined for one that is not a histoseek index's. */
export function formatVersion(format: string | undefined): 1 | 2 | 3 | undefined {
  return format === undefined ? undefined : FORMAT_VERSIONS[format];
}

/**
 * Format 3's item tables. The view `items` shows them as format 2's table did, a slide patch's
 * source spelled out in SQL: it is part of the format, for the earlier histoseek releases that read
 * items through it. This one reads the tables (items.ts), and spells a patch's key only through
 * the item-key codec.
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

/** The database file of the index in `dir`; NOT_FOUND when there is none. */
export function indexDatabase(dir: string): string {
  const file = join(dir, DATABASE_FILE);
  if (!existsSync(file)) throw new HistoseekError('NOT_FOUND', `${dir}: not a histoseek index (no ${DATABASE_FILE})`);
  return file;
}

/** A new, empty index for `model` in `dir`: the database with its tables and meta. */
export function createIndex(dir: string, model: ModelIdentity, vectors: VectorKind): void {
  const db = openDatabase(join(dir, DATABASE_FILE), true, true);
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

/**
 * One meta entry, read with a statement prepared for it (for a connection's first reads; a store
 * reads meta through its cached statements).
 * @internal
 */
export function metaValue(db: Database.Database, key: string): string | undefined {
  return (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
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
