/**
 * A folder index's own upkeep, without its model: its search graph built anew, its format brought
 * up to date. What `histoseek index --rebuild-graph` and `--upgrade` run; each takes the writer lock
 * (INDEX_LOCKED while another writer holds it). A PostgreSQL store keeps its HNSW index itself.
 */
import { isPostgresUrl, redactUrl } from '../store/open-store.js';
import { FolderIndex } from '../store/folder/folder-index.js';
import type { VectorKind } from '../store/types.js';
import { upgradeIndex as upgradeFolder } from '../store/folder/upgrade.js';
import { HistoseekError } from '../util/errors.js';

/** BAD_OPTION for a PostgreSQL URL (a folder without an index is the store's NOT_FOUND). */
function folderIndex(db: string, what: string): void {
  if (isPostgresUrl(db))
    throw new HistoseekError(
      'BAD_OPTION',
      `${what} applies to a folder index; a PostgreSQL store keeps its HNSW index itself (${redactUrl(db)})`,
    );
}

export interface GraphReport {
  /** Items the new graph holds (0: too few for a graph; searches scan every item). */
  items: number;
  /** Rows in the index, removed items included. */
  rows: number;
  /** The graph's file. */
  file: string;
}

/** Builds the search graph of the folder index `db` anew from its stored vectors (a lost or damaged graph.usearch). */
export async function rebuildGraph(db: string): Promise<GraphReport> {
  folderIndex(db, '--rebuild-graph');
  const store = FolderIndex.open(db, { writable: true });
  try {
    const { items } = store.rebuildGraph();
    return { items, rows: store.rows, file: store.path('graph.usearch') };
  } finally {
    store.close();
  }
}

export interface UpgradeReport {
  /** The format the index had. */
  from: 1 | 2;
  rows: number;
  /** The stored precision now. */
  kind: VectorKind;
  /** Items of the graph built for a format-1 index (0 when format 2's graph was kept). */
  graphItems: number;
}

/** Converts the folder index `db`, made by an earlier histoseek (format 1 or 2), to this one in place; nothing is lost. */
export async function upgradeIndex(db: string, o: { vectors?: VectorKind } = {}): Promise<UpgradeReport> {
  folderIndex(db, '--upgrade');
  return upgradeFolder(db, o.vectors);
}
