/**
 * PostgreSQL for the tests, reached over TCP like any server: PGlite with pgvector
 * (scripts/pglite-server.ts) in a child process, and Debian's PostgreSQL (no pgvector) for logins.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import pg from 'pg';
import { freePort, ROOT, stopChild, temporaryFolder } from './helpers.js';

export interface RunningPostgres {
  port: number;
  /** A store URL on this server, in its own schema. */
  url(schema: string): string;
  stop(): Promise<void>;
}

/** How long a server may take to start listening or to answer a login (WASM PGlite starts slowly on a loaded machine). */
const START_TIMEOUT_MS = 180_000;

/** Starts PGlite on a free loopback port; stopped when the test file ends (or by stop()). */
export async function startPglite(): Promise<RunningPostgres> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/pglite-server.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = () => stopChild(child, 'SIGTERM');
  after(stop);
  const port = await new Promise<number>((resolve, reject) => {
    const late = setTimeout(
      () => reject(new Error(`the PGlite server did not listen within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.once('exit', (code) => reject(new Error(`the PGlite server exited with code ${code} before listening`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(late);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { port, url: (schema) => `postgres://postgres@127.0.0.1:${port}/postgres?schema=${schema}`, stop };
}

/** Debian's PostgreSQL server binaries (15 here), or null where the package is not installed. */
export function debianPostgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const version = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a))[0];
  return version ? join(root, version, 'bin') : null;
}

/**
 * A real PostgreSQL server (Debian's, without pgvector) on a random loopback port: initdb in a
 * temporary folder with password (SCRAM) authentication for user postgres, run as a non-root user
 * (nobody) when the tests run as root, as PostgreSQL requires.
 */
export async function startDebianPostgres(bin: string, password: string): Promise<RunningPostgres> {
  const dir = await temporaryFolder('histoseek-pg15-');
  // PostgreSQL refuses to run as root: as root, initdb and the server run as nobody.
  const nobody = { uid: 65534, gid: 65534 };
  const user = process.getuid?.() === 0 ? nobody : {};
  writeFileSync(join(dir, 'pw'), `${password}\n`);
  if (user === nobody) for (const path of [dir, join(dir, 'pw')]) chownSync(path, nobody.uid, nobody.gid);
  const initdb = spawnSync(
    join(bin, 'initdb'),
    ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${join(dir, 'pw')}`],
    { encoding: 'utf8', timeout: START_TIMEOUT_MS, killSignal: 'SIGKILL', ...user },
  );
  if (initdb.status !== 0) throw new Error(`initdb failed: ${initdb.stderr}`);
  const port = await freePort();
  const child = spawn(
    join(bin, 'postgres'),
    ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'],
    { stdio: 'ignore', ...user },
  );
  const stop = () => stopChild(child, 'SIGINT'); // fast shutdown
  after(stop);
  // Ready once it accepts a login.
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`PostgreSQL did not start on port ${port}: ${(err as Error).message}`, { cause: err });
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  return { port, url: (schema) => `postgres://postgres@127.0.0.1:${port}/postgres?schema=${schema}`, stop };
}
