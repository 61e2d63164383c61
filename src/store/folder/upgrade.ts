/**
 * Converts an index made by an earlier histoseek to the current format, in place:
 * - format 1 (float32 `vectors.f32` and raw descriptors `raw.f32`): the vectors are rewritten at
 *   the chosen precision and synced, and each item's norm ‖f_e‖ is taken from its raw descriptor;
 * - formats 1 and 2: the items' metadata move into format 3's compact tables.
 * One transaction moves the metadata and switches the format; the old files are deleted after
 * that. A crash at any point leaves either the old index, whole, or the new one.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { HistoseekError } from '../../util/errors.js';
import { DEFAULT_VECTOR_KIND, type StoredItem, type VectorKind } from '../types.js';
import { VectorColumn } from '../vectors/column.js';
import { rowNorms } from '../vectors/normalise.js';
import { FolderIndex } from './folder-index.js';
import { ItemWriter } from './items.js';
import { WriterLock } from './lock.js';
import {
  createSchema,
  FORMAT,
  FORMAT_1,
  FORMAT_2,
  indexDatabase,
  metaValue,
  openDatabase,
  writeMeta,
} from './schema.js';

const CHUNK_ROWS = 65536;
const OLD_ITEMS = 'items_before_upgrade';

/** Format 1's vectors at precision `kind`, and its items' norms from the raw descriptors (the format stays 1 until the metadata move). */
function convertFormat1Vectors(dir: string, db: Database.Database, kind: VectorKind, rows: number, dim: number): void {
  const vectors = new VectorColumn(dir, 'f32', dim, false);
  const raw = new VectorColumn(dir, 'f32', dim, false, 'raw');
  try {
    const column = kind === 'f32' ? null : new VectorColumn(dir, kind, dim, true);
    const columns = (db.prepare('PRAGMA table_info(items)').all() as { name: string }[]).map((c) => c.name);
    if (!columns.includes('norm')) db.exec('ALTER TABLE items ADD COLUMN norm REAL');
    const setNorm = db.prepare('UPDATE items SET norm = ? WHERE row = ?');
    try {
      for (let first = 0; first < rows; first += CHUNK_ROWS) {
        const count = Math.min(CHUNK_ROWS, rows - first);
        column?.write(first, vectors.readDecoded(first, count), count);
        const norms = rowNorms(raw.readDecoded(first, count), dim);
        db.transaction(() => norms.forEach((norm, i) => setNorm.run(norm, first + i)))();
      }
      column?.truncate(rows);
      column?.sync();
    } finally {
      column?.close();
    }
  } finally {
    vectors.close();
    raw.close();
  }
}

/** Moves the items of a format-1 or -2 table into format 3's tables (inside the caller's transaction). */
function moveItems(db: Database.Database, version: 1 | 2, rows: number): void {
  db.exec(`ALTER TABLE items RENAME TO ${OLD_ITEMS}`);
  createSchema(db);
  if (version === 1) {
    // Format 1 marked removed items, and dropped the record of a row whose item was indexed again.
    const live = new Uint8Array(rows);
    for (const row of db.prepare(`SELECT row FROM ${OLD_ITEMS} WHERE removed = 0`).pluck().all() as number[])
      if (row < rows) live[row] = 1;
    const mark = db.prepare('INSERT OR IGNORE INTO removed_rows (row) VALUES (?)');
    live.forEach((isLive, row) => isLive || mark.run(row));
  }
  const writer = new ItemWriter(db);
  const chunk = db.prepare(
    `SELECT row, source, label, slide, patient, x, y, width, height, collection, removed, norm FROM ${OLD_ITEMS} WHERE row >= ? ORDER BY row LIMIT ${CHUNK_ROWS}`,
  );
  for (let next = 0; ;) {
    const items = chunk.all(next) as (StoredItem & { removed: number; norm: number | null })[];
    if (!items.length) break;
    for (const item of items) writer.write(item.row, item, item.norm, item.removed === 1);
    next = items[items.length - 1].row + 1;
  }
  db.exec(`DROP TABLE ${OLD_ITEMS}`);
}

/** Rewrites the index in `dir` (its writer lock held); returns the rows converted and the format it had. */
function convert(dir: string, kind: VectorKind | undefined): { rows: number; from: 1 | 2; kind: VectorKind } {
  const db = openDatabase(indexDatabase(dir), true);
  try {
    const get = (key: string) => metaValue(db, key);
    const format = get('format');
    if (format === FORMAT) throw new Error(`${dir}: already in the current format (${FORMAT}); nothing to do`);
    if (format !== FORMAT_1 && format !== FORMAT_2)
      throw new HistoseekError('INDEX_DAMAGED', `${dir}: not a histoseek index (format '${format ?? 'none'}')`);
    const from = format === FORMAT_1 ? 1 : 2;
    const rows = Number(get('rows'));
    const stored = get('vectors') as VectorKind | undefined;
    if (from === 2 && kind && kind !== stored)
      throw new HistoseekError(
        'BAD_OPTION',
        `${dir}: this index stores ${stored} vectors; --vectors applies when converting a format-1 index (or index into a new --db)`,
      );
    const target = from === 1 ? (kind ?? DEFAULT_VECTOR_KIND) : stored!;
    if (from === 1) convertFormat1Vectors(dir, db, target, rows, Number(get('dim')));
    db.transaction(() => {
      moveItems(db, from, rows);
      writeMeta(db, { format: FORMAT, vectors: target, generation: String(Number(get('generation') ?? 0) + 1) });
    })();
    // The old table's pages are free now; give them back to the file system.
    db.exec('VACUUM');
    if (from === 1)
      for (const name of target === 'f32' ? ['raw.f32'] : ['raw.f32', 'vectors.f32', 'hnsw.usearch'])
        if (existsSync(join(dir, name))) unlinkSync(join(dir, name));
    return { rows, from, kind: target };
  } finally {
    db.close();
  }
}

/**
 * Upgrades the index in `dir` (format 1 or 2), then builds the search graph of a format-1 index
 * (format 2's graph is kept: its keys are the rows, which do not change).
 */
export function upgradeIndex(
  dir: string,
  kind?: VectorKind,
): { rows: number; graphItems: number; from: 1 | 2; kind: VectorKind } {
  indexDatabase(dir);
  // Held from the conversion to the graph, so that no other writer comes between them.
  const lock = WriterLock.acquire(dir);
  try {
    const converted = convert(dir, kind);
    if (converted.from === 2) return { ...converted, graphItems: 0 };
    const index = FolderIndex.open(dir, { lock });
    try {
      return { ...converted, graphItems: index.rebuildGraph().items };
    } finally {
      index.close();
    }
  } finally {
    lock.release();
  }
}
