/** Shared test utilities: fixture paths, the spec's parity tolerance, running the command, temporary folders. */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { HostTensor } from '../src/model/host-tensor.js';

/** The repository root: the command runs from here, and the shared data sets lie beside it. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/histoseek.js');

/** Runs `histoseek ARGS…` (bin/histoseek.js, i.e. the built dist/) to completion from the repository root. */
export function histoseek(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
}

/** Starts `histoseek ARGS…` without waiting for it, output discarded: for tests that kill it midway. */
export function startHistoseek(...args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: 'ignore' });
}

const temporaryFolders: string[] = [];
// Registered while the test file is being loaded, so on the file's root: it runs once all its tests are done.
after(() => Promise.all(temporaryFolders.map((dir) => rm(dir, { recursive: true, force: true }))));

/** A new empty folder under the OS's temporary folder, removed with its contents after the test file's tests. */
export async function temporaryFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temporaryFolders.push(dir);
  return dir;
}

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const FIXTURE_WEIGHTS = `${FIXTURES}lgffem_test_c32.safetensors`;
export const FIXTURE_IO = `${FIXTURES}lgffem_test_c32_io.safetensors`;

/** Spec §5: max abs difference ≤ 1e-4 of the expected tensor's max abs value. */
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

export function assertClose(actual: HostTensor, expected: HostTensor, what: string, tolerance = PARITY_TOLERANCE): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const err = relativeMaxError(actual.data, expected.data);
  assert.ok(err <= tolerance, `${what}: relative max error ${err.toExponential(2)} > ${tolerance}`);
}
