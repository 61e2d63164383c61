/**
 * The library API as a caller uses it (src/index.ts): queries of every kind, batches, ids and boxes,
 * items by id, add with progress, an AbortSignal and items from an async iterable, writes queued on
 * one index object, `await using`, and each error code the API raises provoked, `err.code` checked.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import {
  isHistoseekError,
  loadModel,
  openIndex,
  openSlide,
  rebuildGraph,
  upgradeIndex,
  type AddItem,
  type AddProgress,
  type ErrorCode,
  type HistoseekIndex,
  type SearchResult,
} from '../src/index.js';
import { TISSUE_MODEL_PATH } from '../src/model/checkpoint.js';
import { temporaryFolder } from './helpers.js';

const TIMEOUT = { timeout: 5 * 60_000 };

const dir = await temporaryFolder('histoseek-api-');
const collection = join(dir, 'collection');
await writeKimiaCollection(collection, {
  seed: 11,
  slides: 3,
  slideSize: 512,
  patchSize: 96,
  trainPerSlide: 5,
  testPerSlide: 1,
});
const more = join(dir, 'more');
await writeKimiaCollection(more, {
  seed: 12,
  slides: 2,
  slideSize: 512,
  patchSize: 96,
  trainPerSlide: 4,
  testPerSlide: 1,
});
// One unreadable file among the images to add: counted as a failure, never stored.
writeFileSync(join(more, 'train', 's0', 'broken.png'), 'not a png');

/** A folder index of `collection` (kimia layout, 15 items), built as `histoseek index` builds it. */
async function baseIndex(name: string): Promise<string> {
  const db = join(dir, name);
  {
    await using created = await openIndex(db, { create: true });
    await created.add(collection, { layout: 'kimia' });
  }
  return db;
}

const db = await baseIndex('db');
const queryFile = join(collection, 'test', 's1', readdirSync(join(collection, 'test', 's1'))[0]);
const trainFiles = (slide: string, root = collection) =>
  readdirSync(join(root, 'train', slide))
    .filter((f) => f.endsWith('.png') && f !== 'broken.png')
    .map((f) => join(root, 'train', slide, f));

/** The RGB pixels of an image file, as a caller with a canvas would have them. */
async function rawPixels(file: string) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data), width: info.width, height: info.height, channels: 3 as const };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isHistoseekError(err), `expected a HistoseekError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

function sameRanking(a: SearchResult[], b: SearchResult[], tolerance = 1e-5): void {
  assert.deepEqual(
    a.map((r) => r.id),
    b.map((r) => r.id),
  );
  a.forEach((r, i) =>
    assert.ok(Math.abs(r.distance - b[i].distance) <= tolerance, `${r.distance} vs ${b[i].distance}`),
  );
}

test('a query as a path, a Buffer, raw pixels or a descriptor gives the same top results', TIMEOUT, async () => {
  await using index = await openIndex(db);
  const byPath = await index.search(queryFile, { k: 5 });
  assert.equal(byPath.length, 5);
  assert.deepEqual(
    byPath.map((r) => r.rank),
    [1, 2, 3, 4, 5],
  );
  // The query's own slide's items come first: the synthetic slides differ in tissue.
  assert.equal(byPath[0].slide, 's1');
  assert.ok(byPath.every((r, i) => i === 0 || r.distance >= byPath[i - 1].distance));
  sameRanking(await index.search(readFileSync(queryFile), { k: 5 }), byPath);
  sameRanking(await index.search(await rawPixels(queryFile), { k: 5 }), byPath);
  await using model = await loadModel();
  const descriptor = await model.embed([queryFile]);
  assert.equal(descriptor.length, model.dim);
  sameRanking(await index.search(descriptor, { k: 5 }), byPath);
  // A descriptor is normalised first: scaled, it finds the same.
  sameRanking(
    await index.search(
      descriptor.map((v) => v * 7),
      { k: 5 },
    ),
    byPath,
  );
});

test('searchBatch gives what one search per query gives', TIMEOUT, async () => {
  await using index = await openIndex(db);
  const other = trainFiles('s2')[0];
  const queries = [queryFile, readFileSync(other), await rawPixels(other), (await index.vector(7))!, queryFile];
  const batch = await index.searchBatch(queries, { k: 4, excludeSlide: 's0' });
  assert.equal(batch.length, queries.length);
  for (const [q, query] of queries.entries()) {
    const single = await index.search(query, { k: 4, excludeSlide: 's0' });
    sameRanking(batch[q], single);
    assert.ok(batch[q].every((r) => r.slide !== 's0'));
  }
  // The indexed item's own vector finds the item itself, at distance ~0.
  assert.equal(batch[3][0].id, 7);
  assert.ok(batch[3][0].distance < 1e-3);
  assert.deepEqual(await index.searchBatch([]), []);
});

test('get and vector: an item by its id, with its normalised descriptor', TIMEOUT, async () => {
  await using index = await openIndex(db);
  const [hit] = await index.search(queryFile, { k: 1 });
  const item = await index.get(hit.id);
  const { rank, distance, ...fields } = hit;
  assert.equal(rank, 1);
  assert.ok(distance >= 0);
  assert.deepEqual(item, fields);
  assert.equal(item!.box, null);
  assert.ok(item!.path.startsWith(join(collection, 'train', 's1')));
  const vector = (await index.vector(hit.id))!;
  assert.equal(vector.length, index.model.dim);
  const norm = Math.hypot(...vector);
  assert.ok(Math.abs(norm - 1) < 1e-2, `norm ${norm}`);
  const [self] = await index.search(vector, { k: 1 });
  assert.equal(self.id, hit.id);
  // Unknown ids: undefined, like a Map.
  assert.equal(await index.get(10_000), undefined);
  assert.equal(await index.vector(10_000), undefined);
});

test('add(items) from an async iterable: metadata and boxes come back, a rerun adds nothing', TIMEOUT, async () => {
  const itemsDb = await baseIndex('items-db');
  const files = trainFiles('s0', more);
  const boxes = files.map((_, i) => ({ x: 96 * i, y: 48, width: 96, height: 96 }));
  async function* items(): AsyncGenerator<AddItem> {
    for (const [i, file] of files.entries()) {
      const image = i % 2 ? readFileSync(file) : await rawPixels(file);
      yield { image, path: '/archive/case-7.svs', label: 'tumour', slide: 'case-7', patient: 'p-7', box: boxes[i] };
    }
  }
  await using index = await openIndex(itemsDb);
  const progress: AddProgress[] = [];
  const report = await index.add(items(), { batch: 2, onProgress: (p) => progress.push(p) });
  assert.deepEqual(
    { total: report.total, added: report.added, skipped: report.skipped, failures: report.failures.length },
    { total: files.length, added: files.length, skipped: 0, failures: 0 },
  );
  assert.equal(report.live, 15 + files.length);
  assert.deepEqual(progress.at(-1), { done: files.length, total: files.length, added: files.length, failures: 0 });
  const [top] = await index.search(readFileSync(files[1]), { k: 1 });
  assert.ok(top.distance < 1e-3);
  assert.deepEqual(
    { path: top.path, label: top.label, slide: top.slide, patient: top.patient, box: top.box },
    { path: '/archive/case-7.svs', label: 'tumour', slide: 'case-7', patient: 'p-7', box: boxes[1] },
  );
  assert.equal(top.id, 15 + 1, 'ids follow the order the items came in');
  const { rank: _rank, distance: _distance, ...item } = top;
  assert.deepEqual(await index.get(top.id), item);
  const again = await index.add(items(), { batch: 2 });
  assert.deepEqual(
    { added: again.added, skipped: again.skipped, live: again.live },
    {
      added: 0,
      skipped: files.length,
      live: 15 + files.length,
    },
  );
});

test('add(collection) reports progress after each batch, counting an unreadable image', TIMEOUT, async () => {
  const addDb = await baseIndex('progress-db');
  await using index = await openIndex(addDb);
  const progress: AddProgress[] = [];
  const report = await index.add(more, { layout: 'kimia', batch: 3, onProgress: (p) => progress.push(p) });
  // 2 slides × 4 training images, and the broken file.
  assert.deepEqual(
    { total: report.total, added: report.added, skipped: report.skipped },
    { total: 9, added: 8, skipped: 0 },
  );
  assert.equal(report.failures.length, 1);
  assert.equal(report.failures[0].code, 'BAD_IMAGE');
  assert.match(report.failures[0].message, /broken\.png/);
  assert.equal(progress.length, 3);
  assert.deepEqual(progress.at(-1), { done: 9, total: 9, added: 8, failures: 1 });
  progress.forEach((p, i) => {
    assert.equal(p.total, 9);
    assert.equal(p.added + p.failures, p.done);
    if (i) assert.ok(p.done > progress[i - 1].done);
  });
  assert.equal((await index.info()).items, 15 + 8);
});

test('an aborted add keeps what it committed, and the next add resumes to the same items', TIMEOUT, async () => {
  const whole = await baseIndex('whole-db');
  const resumed = await baseIndex('resumed-db');
  {
    await using index = await openIndex(whole);
    await index.add(more, { layout: 'kimia', batch: 2 });
  }
  await using index = await openIndex(resumed);
  const controller = new AbortController();
  const seen: AddProgress[] = [];
  await rejectsWith(
    index.add(more, {
      layout: 'kimia',
      batch: 2,
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.done >= 4) controller.abort();
      },
    }),
    'ABORTED',
  );
  // Stopped after the batch that reached 4: two batches committed, nothing half-written.
  assert.equal(seen.length, 2);
  assert.equal((await index.info()).items, 15 + seen.at(-1)!.added);
  const rest = await index.add(more, { layout: 'kimia', batch: 2 });
  assert.equal(rest.skipped, seen.at(-1)!.added);
  assert.equal(rest.added + rest.skipped, 8);
  await using reference = await openIndex(whole);
  for (let id = 0; id < 15 + 8; id++) {
    assert.deepEqual(await index.get(id), await reference.get(id), `item ${id}`);
    assert.deepEqual(await index.vector(id), await reference.vector(id), `vector ${id}`);
  }
  assert.equal(await index.get(15 + 8), undefined);
});

test('overlapping writes on one index object run one after another', TIMEOUT, async () => {
  const sequential = await baseIndex('sequential-db');
  const overlapped = await baseIndex('overlapped-db');
  const first = trainFiles('s0', more).map((image) => ({ image, label: 'a' }));
  const second = trainFiles('s1', more).map((image) => ({ image, label: 'b' }));
  {
    await using index = await openIndex(sequential);
    await index.add(first, { batch: 1 });
    await index.remove({ slide: 's2' });
    await index.add(second, { batch: 1 });
  }
  await using index = await openIndex(overlapped);
  const [a, removed, b] = await Promise.all([
    index.add(first, { batch: 1 }),
    index.remove({ slide: 's2' }),
    index.add(second, { batch: 1 }),
  ]);
  assert.deepEqual([a.added, removed, b.added], [4, 5, 4]);
  await using reference = await openIndex(sequential);
  for (let id = 0; id < 15 + 8; id++) assert.deepEqual(await index.get(id), await reference.get(id), `item ${id}`);
  assert.equal((await index.info()).items, 15 - 5 + 8);
});

test('await using closes the index; any call after close() is CLOSED', TIMEOUT, async () => {
  let kept: HistoseekIndex;
  {
    await using index = await openIndex(db);
    kept = index;
    assert.equal((await index.info()).items, 15);
  }
  await rejectsWith(kept.search(queryFile), 'CLOSED');
  await rejectsWith(kept.get(0), 'CLOSED');
  const index = await openIndex(db);
  const pending = index.search(queryFile, { k: 2 });
  await index.close();
  // A call in progress finishes before close() frees the model.
  assert.equal((await pending).length, 2);
  await rejectsWith(index.add(more, { layout: 'kimia' }), 'CLOSED');
  await index.close(); // twice is harmless

  const model = await loadModel();
  await model.close();
  await rejectsWith(model.embed([queryFile]), 'CLOSED');
  const slidePath = join(
    collection,
    'slides',
    readdirSync(join(collection, 'slides')).find((f) => f.endsWith('.tiff'))!,
  );
  {
    await using slide = await openSlide(slidePath);
    assert.equal((await slide.readRegion(0, 0, 0, 8, 4)).length, 8 * 4 * 3);
    await slide.close();
    await rejectsWith(slide.readRegion(0, 0, 0, 8, 4), 'CLOSED');
  }
});

test('each error code the API raises, by its code', TIMEOUT, async () => {
  await using index = await openIndex(db);
  // BAD_QUERY: no image and no descriptor, a descriptor of the wrong width, k out of range, a bad id.
  await rejectsWith(index.search(42 as never), 'BAD_QUERY', /; got a number$/);
  await rejectsWith(index.search(new Float32Array(3)), 'BAD_QUERY', new RegExp(`has ${index.model.dim} values, got 3`));
  await rejectsWith(index.search(queryFile, { k: 0 }), 'BAD_QUERY', /k must be a positive integer/);
  await rejectsWith(index.get(-1), 'BAD_QUERY');
  // BAD_IMAGE: bytes that are no image, pixels that do not fill their size; named by their place in the batch.
  await rejectsWith(index.search(Buffer.from('not an image')), 'BAD_IMAGE', /^the query: not a readable image/);
  await rejectsWith(
    index.searchBatch([queryFile, { pixels: new Uint8Array(10), width: 32, height: 32 }]),
    'BAD_IMAGE',
    /^query 1 of the batch: 10 bytes of pixels for a 32×32 image with 3 channels \(3072 expected\)/,
  );
  // NOT_FOUND: a query file that is not there, a folder without an index.
  await rejectsWith(index.search(join(dir, 'absent.png')), 'NOT_FOUND', /absent\.png: file not found/);
  await rejectsWith(openIndex(join(dir, 'no-index')), 'NOT_FOUND', /not a histoseek index/);
  // WRONG_MODEL: another checkpoint than the index's.
  await rejectsWith(openIndex(db, { weights: TISSUE_MODEL_PATH }), 'WRONG_MODEL', /this index was built with model/);
  // ABORTED: a signal that has already fired stops add before anything is read.
  await rejectsWith(index.add(more, { layout: 'kimia', signal: AbortSignal.abort('enough') }), 'ABORTED', /enough/);
  // BAD_OPTION: options out of range, items without a name.
  await rejectsWith(index.add(more, { batch: 0 }), 'BAD_OPTION', /batch must be a positive integer/);
  await rejectsWith(openIndex(db, { mode: 'fast' as never }), 'BAD_OPTION', /mode must be one of/);
  await rejectsWith(index.add([{ image: readFileSync(queryFile) }]), 'BAD_OPTION', /item 0: .*needs a path/);
  await rejectsWith(index.remove({} as never), 'BAD_OPTION');
  assert.equal((await index.info()).items, 15, 'nothing was added by the failed calls');
});

test('an index created by the library, searched with a slide region and a whole slide', TIMEOUT, async () => {
  const slidesDb = join(dir, 'slides-db');
  await rejectsWith(openIndex(slidesDb), 'NOT_FOUND');
  await using index = await openIndex(slidesDb, { create: true });
  assert.equal((await index.info()).items, 0);
  const report = await index.add(join(collection, 'slides'), { layout: 'slides' });
  assert.ok(report.added >= 3, `${report.added} patches`);
  assert.deepEqual(Object.keys((await index.info()).slides).sort(), ['s0', 's1', 's2']);
  const slidePath = join(collection, 'slides', 's1.tiff');
  let patch = undefined;
  for (let id = 0; id < report.added && !patch; id++) {
    const item = await index.get(id);
    if (item?.slide === 's1') patch = item;
  }
  assert.ok(patch?.box, 'a patch of s1 with its box');
  assert.equal(patch.path, slidePath);
  // The region of an indexed patch finds that patch first, at distance ~0; its own slide is left out unless asked.
  const own = await index.searchRegion(slidePath, patch.box, { k: 3, includeOwnSlide: true });
  assert.equal(own.patches, 1);
  assert.deepEqual({ id: own.results[0].id, box: own.results[0].box }, { id: patch.id, box: patch.box });
  assert.ok(own.results[0].distance < 1e-3);
  const others = await index.searchRegion(slidePath, patch.box, { k: 3 });
  assert.ok(others.results.length > 0 && others.results.every((r) => r.slide !== 's1'));
  const whole = await index.searchSlide(slidePath, { includeOwnSlide: true });
  assert.deepEqual(
    whole.results.map((r) => r.rank),
    [1, 2, 3],
  );
  assert.equal(whole.results[0].slide, 's1');
  assert.ok(whole.mosaic >= 1 && whole.mosaic <= whole.patches);
  const elsewhere = await index.searchSlide(slidePath);
  assert.deepEqual(elsewhere.results.map((r) => r.slide).sort(), ['s0', 's2']);
  await rejectsWith(index.searchRegion(slidePath, { x: 0, y: 0, width: 0, height: 5 }), 'BAD_QUERY');
  await rejectsWith(index.searchSlide(join(dir, 'absent.tiff')), 'NOT_FOUND');
  await rejectsWith(index.searchSlide(queryFile.replace('.png', '.txt')), 'NOT_FOUND');
});

test(
  'rebuildGraph builds a folder index graph anew; upkeep of a PostgreSQL store or no index is refused',
  TIMEOUT,
  async () => {
    const graphDb = await baseIndex('graph-db');
    await using index = await openIndex(graphDb);
    const before = await index.search(queryFile);
    assert.deepEqual(await rebuildGraph(graphDb), { items: 15, rows: 15, file: join(graphDb, 'graph.usearch') });
    sameRanking(await index.search(queryFile), before, 0);
    await rejectsWith(rebuildGraph('postgres://someone@localhost:5432/db'), 'BAD_OPTION', /applies to a folder index/);
    await rejectsWith(upgradeIndex('postgres://someone@localhost:5432/db'), 'BAD_OPTION', /applies to a folder index/);
    await rejectsWith(rebuildGraph(join(dir, 'no-index')), 'NOT_FOUND');
  },
);

test('the library prints nothing: its notes and warnings go to the logger given', TIMEOUT, async () => {
  // A folder collection that is not histoseek's synthetic tissue (no manifest): the built-in model warns of it.
  const plain = join(await temporaryFolder('histoseek-api-plain-'), 'tiles');
  mkdirSync(join(plain, 'tumour'), { recursive: true });
  for (const file of trainFiles('s1', more).slice(0, 2)) cpSync(file, join(plain, 'tumour', basename(file)));
  writeFileSync(join(plain, 'tumour', 'unreadable.png'), 'not a png');
  const logged: string[] = [];
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => written.push(String(chunk)) > 0) as typeof write;
  try {
    const silent = await openIndex(await baseIndex('silent-db'));
    await silent.add(plain);
    await silent.close();
    const heard = await openIndex(await baseIndex('logged-db'), {
      logger: { info: (m) => logged.push(`info ${m}`), warn: (m) => logged.push(`warn ${m}`) },
    });
    const report = await heard.add(plain);
    assert.equal(report.added, 2);
    await heard.close();
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(written, []);
  assert.equal(logged.length, 2, logged.join('\n'));
  assert.match(logged[0], /^warn histoseek: note: the built-in models are for the demo's synthetic tissue/);
  assert.match(logged[1], /^warn skipped .*unreadable\.png: not a readable image/);
});
