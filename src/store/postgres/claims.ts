/**
 * Work claims of concurrent indexers (item-store.ts's WorkClaims) as lease rows in the store's
 * `claims` table: a claim is an upsert that takes a unit only when its lease ran out or is this
 * worker's own, each committed at once.
 */
import type { WorkClaims } from '../item-store.js';
import type { StoreConnection } from './connection.js';

export function postgresClaims(connection: StoreConnection, worker: string): WorkClaims {
  const claims = connection.table('claims');
  return {
    worker,
    claim: async (unit, leaseSeconds) =>
      (
        await connection.query(
          `INSERT INTO ${claims} (unit, worker, expires) VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (unit) DO UPDATE SET worker = EXCLUDED.worker, expires = EXCLUDED.expires
           WHERE ${claims}.expires < now() OR ${claims}.worker = EXCLUDED.worker RETURNING unit`,
          [unit, worker, leaseSeconds],
        )
      ).length === 1,
    renew: async (leaseSeconds) => {
      await connection.query(`UPDATE ${claims} SET expires = now() + make_interval(secs => $2) WHERE worker = $1`, [
        worker,
        leaseSeconds,
      ]);
    },
    release: async (unit) => {
      await connection.query(`DELETE FROM ${claims} WHERE unit = $1 AND worker = $2`, [unit, worker]);
    },
    heldByOthers: async () =>
      Number(
        (
          await connection.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${claims} WHERE worker <> $1 AND expires >= now()`,
            [worker],
          )
        )[0].n,
      ),
  };
}
