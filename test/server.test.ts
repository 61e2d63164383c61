/**
 * `histoseek serve` through fastify's inject (no sockets): the API on a demo --quick index, its
 * limits, and hostile requests — oversized and bomb uploads, non-images, path traversal, floods
 * (the suite in server-fixtures.ts, which server-security.test.ts runs on a server with tokens).
 * The slide routes need OpenSlide: slow/server-slides.test.ts.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import { startsLikeAccepted } from '../src/server/query-image.js';
import { createServer } from '../src/server/serve.js';
import { FRACTION_METRICS, temporaryFolder } from './helpers.js';
import { describeHostileRequests, makeDemo, multipart, type Demo } from './server-fixtures.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

let tmp: string;
let demo: Demo;
let dir: string;
let db: string;
let app: FastifyInstance;

const patch = (slide: string, n: number) => demo.patch(slide, n);

before(async () => {
  tmp = await temporaryFolder('histoseek-serve-');
  demo = makeDemo(join(tmp, 'demo'));
  ({ dir, db } = demo);
  app = await createServer({ db, webRoot: demo.webRoot, limits: { rate: null } });
});

after(async () => {
  await app?.close();
});

describe('search', { timeout: TIMEOUT }, () => {
  test('an uploaded indexed patch finds itself first, at distance ≈ 0, with the majority label', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/search?k=5',
      ...multipart(readFileSync(patch('s2', 3)), { filename: 's2_003.png' }),
    });
    assert.equal(r.statusCode, 200, r.body);
    const answer = r.json();
    assert.deepEqual(answer.query, { kind: 'upload', name: 's2_003.png', width: 128, height: 128, format: 'png' });
    assert.equal(answer.results.length, 5);
    assert.equal(answer.results[0].path, patch('s2', 3));
    assert.ok(answer.results[0].distance < 1e-4, `distance ${answer.results[0].distance}`);
    assert.equal(answer.results[0].label, 's2');
    assert.equal(answer.results[0].thumbnail, `/api/items/${answer.results[0].id}/thumbnail`);
    assert.ok(
      answer.results.every(
        (x: { rank: number; distance: number }, i: number) =>
          x.rank === i + 1 && (i === 0 || x.distance >= answer.results[i - 1].distance),
      ),
    );
    const votes = answer.results.filter((x: { label: string }) => x.label === answer.majority.label).length;
    assert.deepEqual(answer.majority, { label: answer.majority.label, votes, of: 5 });
  });

  test('only JPEG, PNG, TIFF and WebP signatures are decoded before the probe has named the format', async () => {
    const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#a5a' } })
      .png()
      .toBuffer();
    const accepted = [
      await sharp(png).jpeg().toBuffer(),
      png,
      await sharp(png).tiff().toBuffer(),
      await sharp(png).tiff({ bigtiff: true }).toBuffer(),
      Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]), // big-endian TIFF header
      await sharp(png).webp().toBuffer(),
    ];
    for (const bytes of accepted)
      assert.ok(startsLikeAccepted(bytes), `accepted: ${bytes.subarray(0, 12).toString('hex')}`);
    const refused = [
      await sharp(png).gif().toBuffer(),
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>'),
      Buffer.from('RIFF\0\0\0\0WAVEfmt '),
      Buffer.from([0xff, 0xd8]),
      Buffer.alloc(0),
    ];
    for (const bytes of refused)
      assert.ok(!startsLikeAccepted(bytes), `refused: ${bytes.subarray(0, 12).toString('hex')}`);
  });

  test('TIFF and WebP uploads are read too (lossless: the patch finds itself)', async () => {
    const png = readFileSync(patch('s4', 2));
    for (const [format, bytes] of [
      ['tiff', await sharp(png).tiff({ compression: 'lzw' }).toBuffer()],
      ['webp', await sharp(png).webp({ lossless: true }).toBuffer()],
    ] as const) {
      const r = await app.inject({
        method: 'POST',
        url: '/api/search?k=1',
        ...multipart(bytes, { filename: `s4_002.${format}` }),
      });
      assert.equal(r.statusCode, 200, r.body);
      const answer = r.json();
      assert.deepEqual(answer.query, { kind: 'upload', name: `s4_002.${format}`, width: 128, height: 128, format });
      assert.equal(answer.results[0].path, patch('s4', 2));
      assert.ok(answer.results[0].distance < 1e-4, `${format}: distance ${answer.results[0].distance}`);
    }
  });

  test('by item: the item is left out unless include_self; exclude_slide leaves out a slide', async () => {
    const item = (await app.inject('/api/items/7')).json();
    const plain = (await app.inject('/api/search?item=7&k=10')).json();
    assert.equal(plain.query.item.id, 7);
    assert.equal(plain.results.length, 10);
    assert.ok(plain.results.every((x: { id: number }) => x.id !== 7));
    const self = (await app.inject('/api/search?item=7&k=3&include_self=true')).json();
    assert.equal(self.results[0].id, 7);
    assert.ok(self.results[0].distance < 1e-3, 'float16 storage: a stored vector against itself');
    const other = (await app.inject(`/api/search?item=7&k=20&exclude_slide=${item.slide}`)).json();
    assert.equal(other.results.length, 20);
    assert.ok(other.results.every((x: { slide: string }) => x.slide !== item.slide));
  });

  test('concurrent searches, batched into one library search, answer exactly as lone ones', async () => {
    const upload = (slide: string, n: number, query = 'k=8') =>
      app.inject({
        method: 'POST',
        url: `/api/search?${query}`,
        ...multipart(readFileSync(patch(slide, n)), { filename: `${slide}.png` }),
      });
    const requests = [
      () => upload('s2', 3),
      () => upload('s4', 2, 'k=8&exclude_slide=s4'),
      () => upload('s2', 3, 'k=3'),
      () => app.inject('/api/search?item=7&k=6'),
      () => app.inject('/api/search?item=30&k=8&exclude_slide=s1&include_self=true'),
      () => upload('s5', 1),
    ];
    type Answer = { excluded: number; results: { id: number; distance: number; slide: string }[] };
    const lone: Answer[] = [];
    for (const request of requests) lone.push((await request()).json());
    const together: Answer[] = (await Promise.all(requests.map((request) => request()))).map((r) => r.json());
    for (const [i, answer] of together.entries()) {
      const expected = lone[i];
      assert.equal(answer.results.length, expected.results.length, `request ${i}`);
      assert.equal(answer.excluded, expected.excluded, `request ${i}`);
      assert.deepEqual(
        answer.results.map((r) => r.id),
        expected.results.map((r) => r.id),
        `request ${i}`,
      );
      for (const [j, r] of answer.results.entries())
        assert.ok(Math.abs(r.distance - expected.results[j].distance) < 1e-5, `request ${i}, result ${j}`);
    }
    assert.equal(lone[2].results.length, 3);
    assert.deepEqual(
      lone[2].results.map((r) => r.id),
      lone[0].results.slice(0, 3).map((r) => r.id),
      'k=3 is the first 3 of k=8',
    );
    assert.ok(lone[1].excluded > 0 && lone[1].results.every((r) => r.slide !== 's4'));
    assert.ok(lone[3].results.every((r) => r.id !== 7) && lone[3].excluded === 1);
  });

  test('bad parameters are 400s that name the parameter', async () => {
    for (const url of [
      '/api/search',
      '/api/search?item=abc',
      '/api/search?item=1&k=0',
      '/api/search?item=1&k=101',
      '/api/search?item=-1',
      '/api/search?item=1&colour=red',
    ]) {
      const r = await app.inject(url);
      assert.equal(r.statusCode, 400, url);
      assert.match(r.json().error, /querystring/, url);
    }
    assert.equal((await app.inject('/api/search?item=99999')).statusCode, 404);
  });
});

describe('items, index, report, OpenAPI', { timeout: TIMEOUT }, () => {
  test('item metadata; thumbnails are JPEGs of at most 256 px; unknown items are 404s', async () => {
    const item = (await app.inject('/api/items/0')).json();
    assert.equal(item.id, 0);
    assert.equal(typeof item.path, 'string');
    assert.equal(item.label, item.slide);
    const thumb = await app.inject('/api/items/0/thumbnail');
    assert.equal(thumb.statusCode, 200);
    assert.equal(thumb.headers['content-type'], 'image/jpeg');
    const meta = await sharp(thumb.rawPayload).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.ok(meta.width <= 256 && meta.height <= 256);
    for (const url of ['/api/items/72', '/api/items/72/thumbnail', '/api/items/2147483647']) {
      const r = await app.inject(url);
      assert.equal(r.statusCode, 404, url);
      assert.match(r.json().error, /no item/);
    }
  });

  test('the index, the report and the confusion matrix', async () => {
    const index = (await app.inject('/api/index')).json();
    assert.equal(index.items, 72);
    assert.equal(index.labels.length, 6);
    assert.deepEqual(index.features, { report: true, slides: true, map: true });
    assert.match(index.model.id, /default model/);
    const report = await app.inject('/api/report');
    assert.equal(report.statusCode, 200);
    const metrics = report.json();
    for (const key of FRACTION_METRICS) assert.equal(typeof metrics[key], 'number', key);
    assert.equal(metrics.per_class.length, 6);
    const png = await app.inject('/api/report/confusion.png');
    assert.equal(png.headers['content-type'], 'image/png');
    assert.equal((await sharp(png.rawPayload).metadata()).format, 'png');
  });

  test('/openapi.json documents every API route', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    assert.equal(doc.openapi, '3.1.0');
    const expected: [string, string][] = [
      ['/api/search', 'get'],
      ['/api/search', 'post'],
      ['/api/items/{id}', 'get'],
      ['/api/items/{id}/thumbnail', 'get'],
      ['/api/index', 'get'],
      ['/api/report', 'get'],
      ['/api/report/confusion.png', 'get'],
      ['/api/slides', 'get'],
      ['/api/slides/{id}', 'get'],
      ['/api/slides/{id}/tiles/{level}/{tile}', 'get'],
      ['/api/map', 'get'],
      ['/openapi.json', 'get'],
    ];
    for (const [path, method] of expected) assert.ok(doc.paths[path]?.[method]?.summary, `${method} ${path}`);
    assert.ok(doc.paths['/api/search'].post.requestBody.content['multipart/form-data']);
    assert.deepEqual(doc.paths['/api/search'].get.parameters.map((p: { name: string }) => p.name).sort(), [
      'exclude_slide',
      'include_self',
      'item',
      'k',
    ]);
    assert.ok(doc.paths['/api/search'].post.responses['413']);
  });
});

describe('embedding map', { timeout: TIMEOUT }, () => {
  test('UMAP and PCA place every live item, computed off the request thread; other methods are 400s', async () => {
    for (const method of ['umap', 'pca']) {
      const r = await app.inject(`/api/map?method=${method}`);
      assert.equal(r.statusCode, 200, r.body);
      const map = r.json();
      assert.deepEqual([map.method, map.items, map.sampled, map.points.length], [method, 72, 72, 72]);
      assert.ok(map.points.every((p: { x: number; y: number }) => Number.isFinite(p.x) && Number.isFinite(p.y)));
      assert.equal(new Set(map.points.map((p: { label: string }) => p.label)).size, 6);
    }
    assert.equal((await app.inject('/api/map?method=tsne')).statusCode, 400);
  });
});

describeHostileRequests('hostile requests', () => ({
  app,
  demo,
  headers: {},
  wellFormed: {},
  refused: null,
  withRateLimit: (rate) => createServer({ db, webRoot: demo.webRoot, limits: { rate } }),
}));

test('an index extended while searches run is picked up by the next request', { timeout: TIMEOUT }, async () => {
  const source = join(dir, 'extra.png');
  copyFileSync(patch('s4', 2), source);
  const first = (await app.inject('/api/items/0')).json();
  const searches = Array.from({ length: 20 }, (_, i) => app.inject(`/api/search?item=${i}&k=5`));
  const reader = FolderIndex.open(db);
  const model = reader.model;
  reader.close();
  const store = FolderIndex.openOrCreate(db, model);
  try {
    // The appended item reuses item 0's descriptor, so it must come back as item 0's twin.
    store.append(
      [{ source, label: first.label, slide: first.slide, x: 16, y: 32, width: 128, height: 128 }],
      store.vectors([0]),
      Float32Array.of(1),
    );
  } finally {
    store.close();
  }
  for (const r of await Promise.all(searches)) assert.equal(r.statusCode, 200);
  const index = (await app.inject('/api/index')).json();
  assert.equal(index.items, 73);
  const twin = (await app.inject('/api/search?item=72&k=1')).json();
  assert.equal(twin.query.item.path, source);
  assert.deepEqual(twin.query.item.box, { x: 16, y: 32, width: 128, height: 128 });
  assert.equal(twin.results[0].id, 0);
  assert.ok(twin.results[0].distance < 1e-3, 'float16 storage');
  assert.equal((await app.inject('/api/items/72/thumbnail')).statusCode, 200);
});

test(
  'a slide removed while the server runs is gone from the next answer (withdrawn consent)',
  { timeout: TIMEOUT },
  async () => {
    const query = () =>
      app.inject({
        method: 'POST',
        url: '/api/search?k=20',
        ...multipart(readFileSync(patch('s5', 1)), { filename: 's5_001.png' }),
      });
    const slidesOf = (r: { json(): { results: { slide: string }[] } }) => r.json().results.map((x) => x.slide);
    const before = (await app.inject('/api/index')).json();
    const hitsBefore = slidesOf(await query());
    const s5 = hitsBefore.filter((slide) => slide === 's5').length;
    assert.ok(s5 >= 5, `the s5 patch finds s5 first (${s5} of 20)`);
    const reader = FolderIndex.open(db);
    const model = reader.model;
    reader.close();
    const store = FolderIndex.openOrCreate(db, model);
    let removed: number;
    try {
      removed = store.remove({ slide: 's5' });
    } finally {
      store.close();
    }
    assert.ok(removed > 0);
    const after = (await app.inject('/api/index')).json();
    assert.equal(after.items, before.items - removed);
    assert.ok(after.generation > before.generation, `generation ${before.generation} → ${after.generation}`);
    assert.equal(
      after.slides.some((s: { slide: string }) => s.slide === 's5'),
      false,
    );
    const hitsAfter = slidesOf(await query());
    assert.equal(hitsAfter.length, 20);
    assert.equal(hitsAfter.filter((slide) => slide === 's5').length, 0, 'no answer includes a removed item');
    const removedItem = (await app.inject('/api/index')).json();
    assert.equal(removedItem.generation, after.generation, 'reading changes nothing');
  },
);

test(
  'excluding a slide of more than 256 items (left out by the library, not after the search) answers as before it was added',
  { timeout: TIMEOUT },
  async () => {
    const before = (await app.inject('/api/search?item=0&k=10')).json();
    const reader = FolderIndex.open(db);
    const model = reader.model;
    reader.close();
    const store = FolderIndex.openOrCreate(db, model);
    const copies = 300;
    try {
      // Item 0's descriptor, 300 times in one slide: without the exclusion they would be item 0's nearest.
      const vector = store.vectors([0]);
      const vectors = new Float32Array(copies * vector.length);
      for (let i = 0; i < copies; i++) vectors.set(vector, i * vector.length);
      const items = Array.from({ length: copies }, (_, i) => ({
        source: `${patch('s1', 1)}#copy=${i}`,
        label: 'big',
        slide: 'big',
      }));
      store.append(items, vectors, new Float32Array(copies).fill(1));
    } finally {
      store.close();
    }
    const plain = (await app.inject('/api/search?item=0&k=10')).json();
    // Item 72, the earlier test's twin of item 0, is as near as the copies.
    const big = plain.results.filter((r: { slide: string }) => r.slide === 'big').length;
    assert.ok(big >= 9, `the copies are nearest: ${big} of 10`);
    const excluded = (await app.inject('/api/search?item=0&k=10&exclude_slide=big')).json();
    assert.equal(excluded.excluded, copies + 1, "the slide's items and the query item");
    assert.deepEqual(
      excluded.results.map((r: { id: number }) => r.id),
      before.results.map((r: { id: number }) => r.id),
    );
    for (const [i, r] of excluded.results.entries())
      assert.ok(Math.abs(r.distance - before.results[i].distance) < 1e-5, `result ${i}`);
  },
);
