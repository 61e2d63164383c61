/**
 * PostgreSQL 18 with pgvector on loopback, from PGlite (WASM): what the tests and bench:pg use in
 * place of a PostgreSQL server, reached over the wire protocol like any other. Prints
 * {"port": N} on stdout once it listens, and stops on SIGTERM or SIGINT.
 *
 *   node --import tsx scripts/pglite-server.ts [--port 0] [--dir DATA]   (default: in memory)
 *
 * PGlite runs every client in one backend session, as user postgres whatever the login says, and
 * holds a client's statements while another's transaction is open.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, dir: { type: 'string' } } });
const db = await PGlite.create(values.dir, { extensions: { vector } });
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
