/**
 * Copies a folder index into another store (a PostgreSQL one, typically): every live item with its
 * metadata, stored descriptor and norm, chunk by chunk. The target gets the source's model
 * identity; items it already holds are skipped, so an interrupted copy resumes where it stopped.
 */
import type { ItemStore } from './item-store.js';
import type { FolderIndex } from './folder/folder-index.js';

const CHUNK_ROWS = 4096;

export interface MigrateReport {
  copied: number;
  skipped: number;
}

export async function migrateIndex(
  from: FolderIndex,
  to: ItemStore,
  onProgress?: (done: number, total: number) => void,
): Promise<MigrateReport> {
  to.assertModel(from.model);
  const report: MigrateReport = { copied: 0, skipped: 0 };
  for (let first = 0; first < from.rows; first += CHUNK_ROWS) {
    const range = Array.from({ length: Math.min(CHUNK_ROWS, from.rows - first) }, (_, i) => first + i);
    const live = from.liveItems(range).filter((item) => item !== undefined);
    const stored = await to.storedSources(live.map((item) => item.source));
    const missing = live.filter((item) => !stored.has(item.source));
    report.skipped += live.length - missing.length;
    if (missing.length) {
      const rows = missing.map((item) => item.row);
      const records = missing.map(({ row: _row, ...record }) => record);
      await to.append(records, from.vectors(rows), from.norms(rows));
      report.copied += missing.length;
    }
    onProgress?.(Math.min(first + CHUNK_ROWS, from.rows), from.rows);
  }
  return report;
}
