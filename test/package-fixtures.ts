/**
 * histoseek as a user gets it: the built dist/ packed by npm and installed from the tarball into a
 * fresh folder, with histoseek's runtime dependencies only.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

/** Runs COMMAND to completion in `cwd`, within `timeout` ms; fails the test unless it exits 0. Resolves to its stdout. */
export function runIn(cwd: string, timeout: number, command: string, ...args: string[]): string {
  const r = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout,
    // onnxruntime-node's install script would fetch CUDA libraries; its CPU binaries are in the package.
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  assert.equal(r.status, 0, `${command} ${args.join(' ')} (signal ${r.signal})\n${r.stderr}`);
  return r.stdout;
}

/**
 * Packs the repository (dist/ as built: `npm test` builds its JavaScript first, `npm ci` and
 * `npm run build` its declarations too; packing does not build again)
 * into `dir` and installs the tarball into `dir`/consumer, a new ES-module package, leaving out dev
 * dependencies. Resolves to the consumer's folder.
 */
export function installPackedHistoseek(dir: string): string {
  assert.ok(existsSync(join(ROOT, 'dist/index.d.ts')), 'dist/ is not built: run `npm run build` first');
  const tarball = runIn(ROOT, 2 * 60_000, 'npm', 'pack', '--ignore-scripts', '--pack-destination', dir)
    .trim()
    .split('\n')
    .at(-1)!;
  const consumer = join(dir, 'consumer');
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  runIn(
    consumer,
    10 * 60_000,
    'npm',
    'install',
    '--omit=dev',
    '--prefer-offline',
    '--no-audit',
    '--no-fund',
    join(dir, tarball),
  );
  return consumer;
}
