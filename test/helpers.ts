/** Shared test utilities: fixture paths, the parity tolerance of docs/model.md, running the command and scripts, temporary folders. */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RetrievalMetrics } from '../src/eval/metrics.js';
import type { HostTensor } from '../src/model/host-tensor.js';

/** The repository root: the command runs from here, and the shared data sets lie beside it. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/histoseek.js');
/** Node's arguments that run an ES module script given as text, TypeScript included (tsx). */
const SCRIPT = ['--import', 'tsx', '--input-type=module', '-e'];

/**
 * Milliseconds a child may run before it is killed (SIGKILL), unless the caller gives its own limit:
 * a hung command then fails its test instead of hanging the run. spawnSync blocks the event loop,
 * so node:test's own timeout cannot fire while it waits; this limit is what ends it.
 */
export const CHILD_TIMEOUT_MS = 300_000;

export interface RunOptions {
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds before the child is killed (default CHILD_TIMEOUT_MS). */
  timeout?: number;
}

/** Runs `node ARGS…` from the repository root to completion, or until it is killed at its time limit. */
function runNode(args: string[], o: RunOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, args, {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, ...o.env },
    timeout: o.timeout ?? CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
}

/** Runs `histoseek ARGS…` (bin/histoseek.js, i.e. the built dist/) to completion from the repository root. */
export function histoseek(...args: string[]): SpawnSyncReturns<string> {
  return runNode([BIN, ...args]);
}

/** histoseek(ARGS…) with more environment variables or a time limit. */
export function histoseekWith(o: RunOptions, ...args: string[]): SpawnSyncReturns<string> {
  return runNode([BIN, ...args], o);
}

/** Runs an ES module script (TypeScript allowed; imports relative to the repository root) in a fresh Node, to completion. */
export function runScript(source: string): SpawnSyncReturns<string> {
  return runNode([...SCRIPT, source]);
}

/** How a started child ended, and all it wrote. */
export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A child started without waiting for it: to kill midway, to watch its output, or to await beside other work. */
export interface Started {
  child: ChildProcess;
  /** What it has written so far. */
  stdout(): string;
  stderr(): string;
  done: Promise<Finished>;
}

/** Starts `node ARGS…` from the repository root, collecting its output; killed at its time limit. */
function startNode(args: string[], o: RunOptions = {}): Started {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: o.timeout ?? CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Finished>((resolve) =>
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/**
 * Polls `ready` until it holds, while `run` is still running: a child that ends first (finished,
 * failed, or killed at its time limit) fails the wait with its output instead of spinning forever.
 */
export async function untilWhileRunning(run: Started, ready: () => Promise<boolean>, what: string): Promise<void> {
  for (;;) {
    if (await ready()) return;
    if (run.child.exitCode !== null || run.child.signalCode !== null)
      assert.fail(`the child ended before ${what}: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends `signal`, then SIGKILL if the child has not exited `graceMs` later; resolves once it has exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill(signal);
  });
}

/** Starts `histoseek ARGS…` without waiting for it (this process may be serving what the command connects to). */
export function startHistoseek(...args: string[]): Started {
  return startNode([BIN, ...args]);
}

/** startHistoseek(ARGS…) with more environment variables or a time limit. */
export function startHistoseekWith(o: RunOptions, ...args: string[]): Started {
  return startNode([BIN, ...args], o);
}

/** Starts an ES module script as runScript does, without waiting for it. */
export function startScript(source: string): Started {
  return startNode([...SCRIPT, source]);
}

const fileFolders: string[] = [];
// At exit, not in an `after` hook: hooks run in the order they were registered, and one registered
// later may stop what still uses a folder (a server, a database writing as it shuts down).
process.once('exit', () => {
  for (const dir of fileFolders) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      process.stderr.write(`could not remove ${dir}: ${(err as Error).message}\n`);
    }
  }
});

/**
 * A new empty folder under the OS's temporary folder, removed with its contents after the test `t`
 * (its after hooks run in order: give `t` only where nothing registered later still uses the
 * folder), or, without `t`, once the test file is done.
 */
export async function temporaryFolder(prefix: string, t?: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (t) t.after(() => rm(dir, { recursive: true, force: true }));
  else fileFolders.push(dir);
  return dir;
}

/** A loopback port free right now, for a server that must be told its port (PostgreSQL, Orthanc). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** The retrieval metrics that are fractions of the queries (RetrievalMetrics in src/eval/metrics.ts). */
export const FRACTION_METRICS = [
  'eta_p',
  'eta_w',
  'eta_w_precision',
  'eta_tot',
  'recall_at_1',
  'recall_at_5',
  'recall_at_10',
  'map_at_10',
  'mv_at_5',
] as const satisfies readonly (keyof RetrievalMetrics)[];

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const FIXTURE_WEIGHTS = `${FIXTURES}lgffem_test_c32.safetensors`;
export const FIXTURE_IO = `${FIXTURES}lgffem_test_c32_io.safetensors`;

/** docs/model.md#parity: max abs difference ≤ 1e-4 of the expected tensor's max abs value. */
export const PARITY_TOLERANCE = 1e-4;

export function relativeMaxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'tensor sizes differ');
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
  }
  return maxDiff / (maxAbs || 1);
}

export function assertClose(
  actual: HostTensor,
  expected: HostTensor,
  what: string,
  tolerance = PARITY_TOLERANCE,
): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const err = relativeMaxError(actual.data, expected.data);
  assert.ok(err <= tolerance, `${what}: relative max error ${err.toExponential(2)} > ${tolerance}`);
}

/** The cosine between each row of two [n, d] tensors. */
export function rowCosines(a: HostTensor, b: HostTensor): number[] {
  const [n, d] = a.shape;
  return Array.from({ length: n }, (_, i) => {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let j = i * d; j < (i + 1) * d; j++) {
      ab += a.data[j] * b.data[j];
      aa += a.data[j] ** 2;
      bb += b.data[j] ** 2;
    }
    return ab / Math.sqrt(aa * bb);
  });
}

/** Builds the web page (Vite) into `outDir`, as `npm run build:web` does into dist/web. */
export function buildWebPage(outDir: string): void {
  const build = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/vite/bin/vite.js'),
      'build',
      'web',
      '--outDir',
      outDir,
      '--emptyOutDir',
      '--logLevel',
      'warn',
    ],
    { encoding: 'utf8', cwd: ROOT, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' },
  );
  assert.equal(build.status, 0, build.stderr);
}
