/**
 * PostgreSQL 18 with pgvector on loopback, from PGlite (WASM): what the tests and bench:pg use in
 * place of a PostgreSQL server, reached over the wire protocol like any other. Prints
 * {"port": N} on stdout once it listens, and stops on SIGTERM or SIGINT.
 *
 *   node --import tsx scripts/pglite-server.ts [--port 0] [--dir DATA]   (default: in memory)
 *
 * PGlite runs every client in one backend session, as user postgres whatever the login says, and
 * holds a client's statements while another's transaction is open. pglite-socket queues each wire
 * message on its own, so outside a transaction one client's extended-protocol messages (Parse, Bind,
 * Execute … Sync) could interleave with another's and find the unnamed statement replaced
 * ("unnamed prepared statement does not exist"); a real server gives each connection its own
 * session. `holdExtendedQueries` makes such a group as exclusive as a transaction.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { parseArgs } from 'node:util';

/** Wire message types that open or continue an extended-protocol group, which Sync ('S') ends. */
const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));
const SYNC = 'S'.charCodeAt(0);

/**
 * pglite-socket's queue serves only the client that ran last while `isInTransaction()` is true;
 * report true while a client's extended-protocol group is open too. A client that disconnects
 * mid-group gets a Sync in its place, so the session is not left skipping messages after an error.
 */
function holdExtendedQueries(db: PGlite): void {
  let groupOpen = false;
  const inTransaction = db.isInTransaction.bind(db);
  const execRaw = db.execProtocolRawStream.bind(db);
  db.isInTransaction = () => groupOpen || inTransaction();
  db.execProtocolRawStream = async (message, options) => {
    if (EXTENDED.has(message[0])) groupOpen = true;
    else if (message[0] === SYNC) groupOpen = false;
    return execRaw(message, options);
  };
  const exec = db.exec.bind(db);
  // The queue calls exec only for a client that left while it held the session (to ROLLBACK).
  db.exec = async (query, options) => {
    if (groupOpen) await execRaw(Uint8Array.of(SYNC, 0, 0, 0, 4), { onRawData: () => {} });
    groupOpen = false;
    return exec(query, options);
  };
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, dir: { type: 'string' } } });
const db = await PGlite.create(values.dir, { extensions: { vector } });
holdExtendedQueries(db);
const server = new PGLiteSocketServer({ db, port: Number(values.port), host: '127.0.0.1', maxConnections: 64 });
await server.start();
const address = (server as unknown as { server: { address(): { port: number } } }).server.address();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
const stop = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.once('SIGTERM', stop).once('SIGINT', stop);
