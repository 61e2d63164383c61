/**
 * The local folder store: an index folder (folder-index.ts: SQLite, vector files, the HNSW graph)
 * behind the ItemStore interface. A reader sees the rows committed when it was opened (a new
 * generation reopens it); removals show at once.
 */
import type { ItemSearcher, ItemStore, SearcherOptions } from '../item-store.js';
import type { CreateOptions, ItemRecord, ModelIdentity, StoredItem } from '../types.js';
import { FolderIndex } from './folder-index.js';
import { WorkerSearcher } from './worker-searcher.js';

export class FolderStore implements ItemStore {
  private constructor(private readonly index: FolderIndex) {}

  /** Opens an existing folder index, read-only unless `writable` (one writer at a time). */
  static open(dir: string, options: { writable?: boolean } = {}): FolderStore {
    return new FolderStore(FolderIndex.open(dir, options));
  }

  /** Opens the folder index for appending, creating it for `model` if it does not exist. */
  static openOrCreate(dir: string, model: ModelIdentity, options: CreateOptions = {}): FolderStore {
    return new FolderStore(FolderIndex.openOrCreate(dir, model, options));
  }

  get location(): string {
    return this.index.dir;
  }

  get model(): ModelIdentity {
    return this.index.model;
  }

  get vectorKind() {
    return this.index.vectorKind;
  }

  assertModel(model: Pick<ModelIdentity, 'id' | 'hash'>): void {
    this.index.assertModel(model);
  }

  async generation(): Promise<number> {
    return this.index.generation;
  }

  async liveCount(): Promise<number> {
    return this.index.activeRows().reduce((n, a) => n + a, 0);
  }

  async rowLimit(): Promise<number> {
    return this.index.rows;
  }

  async storedSources(sources?: string[]): Promise<Set<string>> {
    const stored = this.index.storedSources();
    return sources ? new Set(sources.filter((s) => stored.has(s))) : stored;
  }

  async append(items: ItemRecord[], normalised: Float32Array, norms: Float32Array): Promise<void> {
    this.index.append(items, normalised, norms);
  }

  async recordFailure(source: string, reason: string): Promise<void> {
    this.index.recordFailure(source, reason);
  }

  async failures(): Promise<{ source: string; reason: string }[]> {
    return this.index.failures();
  }

  async remove(filter: { slide?: string; under?: string }): Promise<number> {
    return this.index.remove(filter);
  }

  async items(rows: number[]): Promise<(StoredItem | undefined)[]> {
    return this.index.liveItems(rows);
  }

  async allItems(): Promise<StoredItem[]> {
    return this.index.allItems();
  }

  async labelCounts(): Promise<Map<string, number>> {
    return this.index.labelCounts();
  }

  async slideCounts(): Promise<Map<string, number>> {
    return this.index.slideCounts();
  }

  async slideRows(slide: string): Promise<number[]> {
    return this.index.slideRows(slide);
  }

  async vectors(rows: number[]): Promise<Float32Array> {
    return this.index.vectors(rows);
  }

  /** A searcher on a worker thread (worker-searcher.ts): a long search never holds this thread's event loop. */
  openSearcher(settings: SearcherOptions = {}): Promise<ItemSearcher> {
    return WorkerSearcher.open(this.index, settings);
  }

  workClaims(): null {
    return null;
  }

  async close(): Promise<void> {
    this.index.close();
  }
}
