/**
 * A library index's reader: its store and searcher as of one generation of the index. Reads share
 * it; once any writer (this index object, or another process) has advanced the index's generation,
 * the next read opens a new reader — the store and searcher only, the model stays loaded — and the
 * old one closes when its last read has finished. A reopen that fails (the index mid-upgrade, a
 * PostgreSQL server gone a moment) is a warning: reads go on from the reader there is, and the next
 * read tries again — a server keeps answering.
 */
import type { ItemSearcher, ItemStore } from '../store/item-store.js';
import type { Logger } from '../util/logger.js';

export interface Reader {
  store: ItemStore;
  searcher: ItemSearcher;
  /** The store's generation when this reader was opened. */
  generation: number;
}

interface Lease {
  reader: Reader;
  users: number;
  retired: boolean;
}

async function closeReader(reader: Reader): Promise<void> {
  await reader.searcher.release();
  await reader.store.close();
}

export class ReaderSlot {
  private current: Lease;
  private refreshing: Promise<void> | null = null;

  constructor(
    reader: Reader,
    /** Hears each reopen, and each failed one. */
    private readonly logger: Logger,
    /** Opens a reader of the index as it is now. */
    private readonly open: () => Promise<Reader>,
  ) {
    this.current = { reader, users: 0, retired: false };
  }

  /** Runs `read` against an up-to-date reader, which stays open until `read` has settled. */
  async use<T>(read: (reader: Reader) => Promise<T>): Promise<T> {
    if ((await this.current.reader.store.generation()) !== this.current.reader.generation) await this.refresh();
    const lease = this.current;
    lease.users++;
    try {
      return await read(lease.reader);
    } finally {
      lease.users--;
      if (lease.retired && lease.users === 0) await closeReader(lease.reader);
    }
  }

  /** Opens the next reader (one at a time, however many reads ask) and retires the current one. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const old = this.current;
      const location = old.reader.store.location;
      let next: Reader;
      try {
        next = await this.open();
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        this.logger.warn(`index ${location}: cannot reopen (${reason}); reading generation ${old.reader.generation}`);
        return;
      } finally {
        this.refreshing = null;
      }
      this.current = { reader: next, users: 0, retired: false };
      this.logger.info(`index ${location}: reopened at generation ${next.generation}`);
      await retire(old);
    })();
    return this.refreshing;
  }

  /** Closes the reader once the reads using it have finished. */
  async close(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
    await retire(this.current);
  }
}

async function retire(lease: Lease): Promise<void> {
  lease.retired = true;
  if (lease.users === 0) await closeReader(lease.reader);
}
