/**
 * histoseek as a library, installed as a user installs it: the packed tarball into a fresh folder,
 * imported from a plain .mjs file, opening an index the CLI built and searching it with an image
 * file — the CLI's top-10, path for path, distances to 1e-6.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import { histoseek, ROOT, temporaryFolder } from './helpers.js';

const dir = await temporaryFolder('histoseek-library-');
const collection = join(dir, 'collection');
await writeKimiaCollection(collection, { seed: 8, slides: 3, slideSize: 512, patchSize: 96, trainPerSlide: 5, testPerSlide: 1 });
const db = join(dir, 'db');

function run(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  assert.equal(r.status, 0, `${command} ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

test('npm pack, npm install, import histoseek from a .mjs file: the CLI top-10 from openIndex().search(image)', { timeout: 15 * 60_000 }, () => {
  assert.equal(histoseek('index', collection, '--db', db, '--layout', 'kimia').status, 0);
  const query = join(collection, 'test', 's1', readdirSync(join(collection, 'test', 's1'))[0]);
  const cli = JSON.parse(histoseek('search', query, '--db', db, '--json').stdout).results as { path: string; distance: number; rank: number; label: string; slide: string }[];
  assert.equal(cli.length, 10);

  // dist/ is built (npm test compiles it first); packing must not build again.
  const tarball = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], ROOT).trim().split('\n').at(-1)!;
  const consumer = join(dir, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], consumer);
  writeFileSync(
    join(consumer, 'search.mjs'),
    `import { openIndex } from 'histoseek';
const index = await openIndex(process.argv[2]);
const results = await index.search(process.argv[3], { k: 10 });
const info = await index.info();
await index.close();
console.log(JSON.stringify({ results, items: info.items }));
`,
  );
  const library = JSON.parse(run(process.execPath, ['search.mjs', db, query], consumer));
  assert.equal(library.items, 15);
  assert.deepEqual(library.results.map((r: { path: string }) => r.path), cli.map((r) => r.path));
  library.results.forEach((r: (typeof cli)[number], i: number) => {
    assert.ok(Math.abs(r.distance - cli[i].distance) <= 1e-6, `${r.path}: ${r.distance} vs ${cli[i].distance}`);
    assert.deepEqual({ ...r, distance: 0 }, { ...cli[i], distance: 0 });
  });
});
