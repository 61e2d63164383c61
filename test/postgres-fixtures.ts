/** PostgreSQL for the tests: PGlite with pgvector (scripts/pglite-server.ts) in a child process, reached over TCP like a server. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { after } from 'node:test';
import { ROOT } from './helpers.js';

export interface RunningPostgres {
  port: number;
  /** A store URL on this server, in its own schema. */
  url(schema: string): string;
  stop(): Promise<void>;
}

function stopped(child: ChildProcess): Promise<void> {
  return child.exitCode !== null ? Promise.resolve() : new Promise((done) => child.once('exit', () => done()));
}

/** Starts PGlite on a free loopback port; stopped when the test file ends (or by stop()). */
export async function startPglite(): Promise<RunningPostgres> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/pglite-server.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the PGlite server exited with code ${code} before listening`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  const stop = async () => {
    child.kill('SIGTERM');
    await stopped(child);
  };
  after(stop);
  return { port, url: (schema) => `postgres://postgres@127.0.0.1:${port}/postgres?schema=${schema}`, stop };
}
