/**
 * `--db`: a folder, or a PostgreSQL URL (postgres://USER@HOST:PORT/DB[?schema=NAME]). The
 * PostgreSQL store and its client are loaded only for a URL.
 */
import { FolderStore } from './folder/folder-store.js';
import type { ItemStore } from './item-store.js';
import { isPostgresUrl, redactUrl } from './postgres/url.js';
import type { CreateOptions, ModelIdentity } from './types.js';

export { isPostgresUrl, redactUrl };

/** Opens an existing store for reading, or for appending and removing when `writable` (a folder takes its writer lock). */
export async function openStore(db: string, options: { writable?: boolean } = {}): Promise<ItemStore> {
  return isPostgresUrl(db) ? (await postgresStore()).open(db) : FolderStore.open(db, options);
}

/** Opens the store at `db` for appending, creating it for `model` if it holds none; another model's store is an error. */
export async function openOrCreateStore(
  db: string,
  model: ModelIdentity,
  options: CreateOptions = {},
): Promise<ItemStore> {
  return isPostgresUrl(db)
    ? (await postgresStore()).open(db, { model, vectors: options.vectors })
    : FolderStore.openOrCreate(db, model, options);
}

async function postgresStore() {
  return (await import('./postgres/postgres-store.js')).PostgresStore;
}
