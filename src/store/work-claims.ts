/**
 * How concurrent indexers share a collection: it is cut into units (a slide, or a run of images),
 * and a worker works only on a unit it has claimed. A claim is a committed lease row, renewed while
 * the worker lives; a unit whose lease ran out (its worker died) can be claimed by another. Claims
 * are never locks held for the length of the work, so they behave the same on any PostgreSQL
 * (PGlite included, which runs every client in one session).
 */
export interface WorkClaims {
  /** This worker's name (host:pid). */
  readonly worker: string;
  /** Takes `unit` for `leaseSeconds` if nobody holds a live lease on it (or this worker does); true when taken. */
  claim(unit: string, leaseSeconds: number): Promise<boolean>;
  /** Extends every lease this worker holds. */
  renew(leaseSeconds: number): Promise<void>;
  release(unit: string): Promise<void>;
  /** Units other workers hold a live lease on. */
  heldByOthers(): Promise<number>;
}
