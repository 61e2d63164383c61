/**
 * histoseek as a library, installed as a user installs it: the packed tarball into a fresh folder,
 * imported from a plain .mjs file, opening an index the CLI built and searching it with an image
 * file (the CLI's top-10, path for path, distances to 1e-6), the file's bytes, its descriptor and a
 * batch of all three; reading items by id, adding a slide patch with its box and finding it again.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeKimiaCollection } from '../../src/data/synthetic/index.js';
import { histoseekWith, temporaryFolder } from '../helpers.js';
import { installPackedHistoseek, runIn } from '../package-fixtures.js';

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

/** Runs the command (the built dist/) to completion, within 5 minutes. */
const histoseek = (...args: string[]) => histoseekWith({ timeout: 5 * 60_000 }, ...args);

/** The consumer's script: every call a user makes, its answers printed as one JSON object. */
const SCRIPT = `import { readFileSync } from 'node:fs';
import { HistoseekError, loadModel, openIndex, openSlide } from 'histoseek';

const [db, query, more, slidePath] = process.argv.slice(2);
const codeOf = (promise) => promise.then(() => 'resolved', (err) => (err instanceof HistoseekError ? err.code : String(err)));
const index = await openIndex(db);
const results = await index.search(query, { k: 10 });
const fromBytes = await index.search(readFileSync(query), { k: 10 });
const model = await loadModel(undefined, { threads: 1 });
const descriptor = await model.embed([query]);
await model.close();
const fromDescriptor = await index.search(descriptor, { k: 10 });
const batch = await index.searchBatch([query, readFileSync(query), descriptor], { k: 10 });
const first = await index.get(results[0].id);
const firstVector = await index.vector(results[0].id);
const narrowQuery = await codeOf(index.search(new Float32Array(descriptor.length - 1)));
const items = (await index.info()).items;
const progress = [];
const added = await index.add(more, { layout: 'kimia', onProgress: (p) => progress.push(p) });
const afterAdd = (await index.info()).items;
const removed = await index.remove({ slide: 's2' });
const afterRemove = await index.info();
const evaluation = await index.evaluate({ leaveOneOut: true });

// A slide patch, added from its pixels with its level-0 box, and found again by the same pixels.
const slide = await openSlide(slidePath);
const box = { x: 64, y: 32, width: 96, height: 96 };
const patch = { pixels: await slide.readRegion(box.x, box.y, 0, box.width, box.height), width: box.width, height: box.height };
const boxed = await index.add([{ image: patch, path: slidePath, slide: 'patched', label: 'patch', box }]);
const [found] = await index.search(patch, { k: 1 });
const foundItem = await index.get(found.id);
let patches = 0;
for await (const tile of slide.patches()) patches += tile.pixels.length === 224 * 224 * 3 ? 1 : 0;
const levels = slide.info.levels.length;
await slide[Symbol.asyncDispose]();
await index[Symbol.asyncDispose]();
const afterClose = await codeOf(index.info());
console.log(JSON.stringify({ results, fromBytes, fromDescriptor, batch, first, firstVector: firstVector.length, dim: descriptor.length, narrowQuery,
  items, added: added.added, progress, afterAdd, removed, afterRemove: afterRemove.items, slides: Object.keys(afterRemove.slides).sort(),
  queries: evaluation.n_queries, boxed: boxed.added, box, found, foundItem, levels, patches, afterClose }));
`;

test(
  'npm pack, npm install, import histoseek from a .mjs file: search by file, bytes, descriptor and batch; ids, boxes, add and remove',
  { timeout: 20 * 60_000 },
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

    const consumer = installPackedHistoseek(dir);
    writeFileSync(join(consumer, 'search.mjs'), SCRIPT);
    const slidePath = join(
      collection,
      'slides',
      readdirSync(join(collection, 'slides')).find((f) => f.endsWith('.tiff'))!,
    );
    const cliSlide = histoseek('slide', 'info', slidePath);
    const library = JSON.parse(
      runIn(consumer, 10 * 60_000, process.execPath, 'search.mjs', db, query, more, slidePath),
    );

    // The file's results are the CLI's, each with its item's id and no box (whole images).
    type Result = { id: number; path: string; label: string; slide: string; rank: number; distance: number };
    const results = library.results as Result[];
    assert.deepEqual(
      results.map(({ rank, path, label, slide }) => ({ rank, path, label, slide })),
      cli.map(({ rank, path, label, slide }) => ({ rank, path, label, slide })),
    );
    results.forEach((r, i) => {
      assert.ok(Math.abs(r.distance - cli[i].distance) <= 1e-6, `${r.path}: ${r.distance} vs ${cli[i].distance}`);
      assert.equal((r as { box?: unknown }).box, null);
    });
    const ids = results.map((r) => r.id);
    assert.ok(
      ids.every((id) => Number.isInteger(id) && id >= 0 && id < 15),
      `ids ${ids}`,
    );
    assert.equal(new Set(ids).size, 10);
    // The same image as bytes, as a descriptor and in a batch: the same items in the same order.
    const sameAs = (other: Result[], what: string) => {
      assert.deepEqual(
        other.map((r) => r.id),
        ids,
        what,
      );
      other.forEach((r, i) =>
        assert.ok(Math.abs(r.distance - results[i].distance) <= 1e-6, `${what} ${r.id}: ${r.distance}`),
      );
    };
    sameAs(library.fromBytes, 'bytes');
    sameAs(library.fromDescriptor, 'descriptor');
    assert.equal(library.batch.length, 3);
    library.batch.forEach((answer: Result[], q: number) => sameAs(answer, `batch query ${q}`));
    // get(id) is the result without its rank and distance; vector(id) is the stored descriptor.
    const itemOf = ({ rank, distance, ...item }: { rank: number; distance: number }) => item;
    assert.deepEqual(library.first, itemOf(results[0]));
    assert.equal(library.firstVector, library.dim);
    assert.equal(library.narrowQuery, 'BAD_QUERY');

    // add, remove and evaluate through the library change and read the same index.
    assert.equal(library.items, 15);
    assert.equal(library.added, 3);
    assert.deepEqual(library.progress.at(-1), { done: 3, total: 3, added: 3, failures: 0 });
    assert.equal(library.afterAdd, 18);
    assert.equal(library.removed, 5);
    assert.equal(library.afterRemove, 13);
    assert.deepEqual(library.slides, ['s0', 's1']);
    assert.equal(library.queries, 13);
    // The patch added with its box comes back first, at distance ~0 (float16 storage), box and all.
    assert.equal(library.boxed, 1);
    assert.deepEqual(library.found.box, library.box);
    assert.equal(library.found.slide, 'patched');
    assert.equal(library.found.path, slidePath);
    assert.equal(library.found.id, 18, 'the next row: ids of removed items are not reused');
    assert.ok(library.found.distance < 1e-3, `distance ${library.found.distance}`);
    assert.deepEqual(library.foundItem, itemOf(library.found));
    // The slide as the library reads it: the level count and patches that 'histoseek slide info' reports.
    assert.match(cliSlide.stdout, new RegExp(`${library.levels} level`));
    assert.ok(library.patches > 0);
    assert.equal(library.afterClose, 'CLOSED');
  },
);
