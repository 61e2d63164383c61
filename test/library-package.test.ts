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
await writeKimiaCollection(collection, {
  seed: 8,
  slides: 3,
  slideSize: 512,
  patchSize: 96,
  trainPerSlide: 5,
  testPerSlide: 1,
});
const db = join(dir, 'db');
const more = join(dir, 'more');
await writeKimiaCollection(more, {
  seed: 9,
  slides: 1,
  slideSize: 512,
  patchSize: 96,
  trainPerSlide: 3,
  testPerSlide: 1,
});

function run(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  assert.equal(r.status, 0, `${command} ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

test(
  'npm pack, npm install, import histoseek from a .mjs file: the CLI top-10 from openIndex().search(image)',
  { timeout: 15 * 60_000 },
  () => {
    assert.equal(histoseek('index', collection, '--db', db, '--layout', 'kimia').status, 0);
    const query = join(collection, 'test', 's1', readdirSync(join(collection, 'test', 's1'))[0]);
    const cli = JSON.parse(histoseek('search', query, '--db', db, '--json').stdout).results as {
      path: string;
      distance: number;
      rank: number;
      label: string;
      slide: string;
    }[];
    assert.equal(cli.length, 10);

    // dist/ is built (npm test compiles it first); packing must not build again.
    const tarball = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], ROOT)
      .trim()
      .split('\n')
      .at(-1)!;
    const consumer = join(dir, 'consumer');
    mkdirSync(consumer);
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], consumer);
    writeFileSync(
      join(consumer, 'search.mjs'),
      `import { openIndex, openSlide } from 'histoseek';
const [db, query, more, slidePath] = process.argv.slice(2);
const index = await openIndex(db);
const results = await index.search(query, { k: 10 });
const items = (await index.info()).items;
const added = await index.add(more, { layout: 'kimia' });
const afterAdd = (await index.info()).items;
const removed = await index.remove({ slide: 's2' });
const afterRemove = await index.info();
const evaluation = await index.evaluate({ leaveOneOut: true });
await index.close();
const slide = await openSlide(slidePath);
const region = await slide.readRegion(0, 0, 0, 64, 32);
let patches = 0;
for await (const patch of slide.patches()) patches += patch.pixels.length === 224 * 224 * 3 ? 1 : 0;
slide.close();
console.log(JSON.stringify({ results, items, added: added.added, afterAdd, removed, afterRemove: afterRemove.items, slides: Object.keys(afterRemove.slides).sort(), queries: evaluation.n_queries, levels: slide.info.levels.length, region: region.length, patches }));
`,
    );
    const slidePath = join(
      collection,
      'slides',
      readdirSync(join(collection, 'slides')).find((f) => f.endsWith('.tiff'))!,
    );
    const cliSlide = histoseek('slide', 'info', slidePath);
    const library = JSON.parse(run(process.execPath, ['search.mjs', db, query, more, slidePath], consumer));
    assert.equal(library.items, 15);
    // add, remove and evaluate through the library change and read the same index.
    assert.equal(library.added, 3);
    assert.equal(library.afterAdd, 18);
    assert.equal(library.removed, 5);
    assert.equal(library.afterRemove, 13);
    assert.deepEqual(library.slides, ['s0', 's1']);
    assert.equal(library.queries, 13);
    // The slide as the library reads it: the level count and patches that 'histoseek slide info' reports.
    assert.equal(library.region, 64 * 32 * 3);
    assert.match(cliSlide.stdout, new RegExp(`${library.levels} level`));
    assert.ok(library.patches > 0);
    assert.deepEqual(
      library.results.map((r: { path: string }) => r.path),
      cli.map((r) => r.path),
    );
    library.results.forEach((r: (typeof cli)[number], i: number) => {
      assert.ok(Math.abs(r.distance - cli[i].distance) <= 1e-6, `${r.path}: ${r.distance} vs ${cli[i].distance}`);
      assert.deepEqual({ ...r, distance: 0 }, { ...cli[i], distance: 0 });
    });
  },
);
