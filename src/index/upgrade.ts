/**
 * Converts an index of format 1 (float32 `vectors.f32` and raw descriptors `raw.f32`) to the
 * current format, in place: the vectors are rewritten at the chosen precision and synced, each
 * item's norm ‖f_e‖ is taken from its raw descriptor, and only then does one transaction switch
 * the format; the old files are deleted after that. A crash at any point leaves either the old
 * index, whole, or the new one.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { rowNorms } from './indexer.js';
import { acquireLock, FORMAT, FORMAT_1, IndexStore, openDatabase, writeMeta } from './store.js';
import type { VectorKind } from './vector-codec.js';
import { VectorColumn } from './vector-column.js';

const CHUNK_ROWS = 65536;

/** Rewrites the files of the format-1 index in `dir`; returns the number of rows converted. */
function convertFiles(dir: string, kind: VectorKind): number {
  const lock = acquireLock(dir);
  const db = openDatabase(join(dir, 'histoseek.sqlite'), true);
  try {
    const get = (key: string) => (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
    if (get('format') === FORMAT) throw new Error(`${dir}: already in the current format (${FORMAT}); nothing to do`);
    if (get('format') !== FORMAT_1) throw new Error(`${dir}: not a histoseek index (format '${get('format') ?? 'none'}')`);
    const rows = Number(get('rows'));
    const dim = Number(get('dim'));
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
      // Format 1 marked removed items, and dropped the record of a row whose item was indexed again.
      db.transaction(() => {
        const live = new Uint8Array(rows);
        for (const row of db.prepare('SELECT row FROM items WHERE removed = 0').pluck().iterate() as Iterable<number>) if (row < rows) live[row] = 1;
        const mark = db.prepare('INSERT OR IGNORE INTO removed_rows (row) VALUES (?)');
        live.forEach((isLive, row) => isLive || mark.run(row));
        writeMeta(db, { format: FORMAT, vectors: kind, generation: String(Number(get('generation') ?? 0) + 1) });
      })();
    } finally {
      vectors.close();
      raw.close();
    }
    for (const name of kind === 'f32' ? ['raw.f32'] : ['raw.f32', 'vectors.f32', 'hnsw.usearch']) if (existsSync(join(dir, name))) unlinkSync(join(dir, name));
    return rows;
  } finally {
    db.close();
    unlinkSync(lock);
  }
}

/** Upgrades the format-1 index in `dir`, then builds its search graph if it is large enough for one. */
export function upgradeIndex(dir: string, kind: VectorKind): { rows: number; graphItems: number } {
  const rows = convertFiles(dir, kind);
  const store = IndexStore.open(dir, { writable: true });
  try {
    return { rows, graphItems: store.rebuildGraph().items };
  } finally {
    store.close();
  }
}
