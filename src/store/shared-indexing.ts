/**
 * Indexing one collection from several processes at once (a PostgreSQL store): the collection is
 * cut into units — one per slide, or runs of UNIT_IMAGES images — and each worker indexes only
 * units it has claimed (WorkClaims, item-store.ts). A unit is finished when every item of it is
 * stored, by whichever worker; a worker that finds nothing to claim waits for the others, and takes
 * over the units of one that died once its lease runs out. Items stored meanwhile by another worker
 * are skipped (and the store skips a source it already holds), so nothing is stored twice.
 */
import type { CollectionItem } from '../collections/collection.js';
import type { Embedder } from '../engine/embedder.js';
import { indexItems, type IndexOptions, type IndexReport } from './indexer.js';
import type { ItemStore, WorkClaims } from './item-store.js';

/** Images per unit of a collection of images (a slide is one unit, whatever its size). */
export const UNIT_IMAGES = 256;
/** Default lease on a claimed unit: its worker renews it every third of this while alive. */
export const DEFAULT_LEASE_SECONDS = 60;

export interface WorkUnit {
  key: string;
  items: CollectionItem[];
}

/** The collection's units, in a fixed order every worker computes alike. */
export function workUnits(root: string, items: CollectionItem[]): WorkUnit[] {
  const units = new Map<string, CollectionItem[]>();
  const images: CollectionItem[] = [];
  for (const item of items) {
    if (item.slide == null) images.push(item);
    else {
      const key = `${root}#slide=${item.slide}`;
      const unit = units.get(key);
      if (unit) unit.push(item);
      else units.set(key, [item]);
    }
  }
  for (let first = 0; first < images.length; first += UNIT_IMAGES)
    units.set(`${root}#images=${first}`, images.slice(first, first + UNIT_IMAGES));
  return [...units].map(([key, unitItems]) => ({ key, items: unitItems }));
}

export interface SharedIndexOptions extends IndexOptions {
  leaseSeconds: number;
  /** After each pass over the units: items stored by all workers, of `total`, and units other workers hold. */
  onShared?: (stored: number, total: number, heldByOthers: number) => void;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function indexShared(
  store: ItemStore,
  claims: WorkClaims,
  embedder: Embedder,
  units: WorkUnit[],
  o: SharedIndexOptions,
): Promise<IndexReport> {
  const total = units.reduce((n, u) => n + u.items.length, 0);
  const report: IndexReport = { total, skipped: 0, added: 0, failures: [] };
  const storedIn = new Map<WorkUnit, number>();
  const pending = new Set(units);
  let renewal: Error | null = null;
  const heartbeat = setInterval(
    () => {
      claims.renew(o.leaseSeconds).catch((err: unknown) => {
        renewal = err as Error;
      });
    },
    (o.leaseSeconds * 1000) / 3,
  );
  try {
    while (pending.size) {
      let worked = false;
      for (const unit of [...pending]) {
        if (renewal) throw renewal;
        const stored = await store.storedSources(unit.items.map((i) => i.source));
        storedIn.set(unit, stored.size);
        if (stored.size === unit.items.length) {
          pending.delete(unit);
          continue;
        }
        if (!(await claims.claim(unit.key, o.leaseSeconds))) continue;
        try {
          const done = await indexItems(store, embedder, unit.items, o);
          report.added += done.added;
          report.failures.push(...done.failures);
          storedIn.set(unit, done.skipped + done.added);
        } finally {
          await claims.release(unit.key);
        }
        // Its failures (unreadable images) are retried by no other worker than one that finds the unit unfinished later.
        pending.delete(unit);
        worked = true;
      }
      const heldByOthers = await claims.heldByOthers();
      o.onShared?.(
        [...storedIn.values()].reduce((a, b) => a + b, 0),
        total,
        heldByOthers,
      );
      // Nothing to claim: the rest is in other workers' hands; look again shortly (a dead worker's lease runs out).
      if (pending.size && !worked) await sleep(Math.min(1000, (o.leaseSeconds * 1000) / 4));
    }
  } finally {
    clearInterval(heartbeat);
  }
  report.skipped = total - report.added - report.failures.length;
  return report;
}
