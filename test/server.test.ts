/**
 * `histoseek serve` through fastify's inject (no sockets): the API on a demo --quick index, its
 * limits, and hostile requests — oversized and bomb uploads, non-images, path traversal, floods.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { IndexStore } from '../src/index/store.js';
import { startsLikeAccepted } from '../src/server/query-image.js';
import { createServer } from '../src/server/serve.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let tmp: string;
let dir: string;
let db: string;
let webRoot: string;
let app: FastifyInstance;

/** A multipart/form-data body with one file part. */
function multipart(bytes: Uint8Array, o: { field?: string; filename?: string; type?: string } = {}) {
  const boundary = 'histoseek-test-boundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${o.field ?? 'image'}"; filename="${o.filename ?? 'query.png'}"\r\nContent-Type: ${o.type ?? 'image/png'}\r\n\r\n`;
  return { payload: Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** A few-hundred-byte PNG whose header claims width × height RGB pixels: a decompression bomb's shape. */
function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(1024))), pngChunk('IEND', new Uint8Array(0))]);
}

const patch = (slide: string, n: number) => join(dir, 'collection', 'train', slide, `${slide}_${String(n).padStart(3, '0')}.png`);

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'histoseek-serve-'));
  dir = join(tmp, 'demo');
  const demo = spawnSync(process.execPath, [join(ROOT, 'bin/histoseek.js'), 'demo', '--quick', '--out', dir], { encoding: 'utf8', cwd: ROOT });
  assert.equal(demo.status, 0, demo.stderr);
  db = join(dir, 'db');
  // A stand-in for the built page, so static serving is tested without building it.
  webRoot = join(dir, 'web');
  mkdirSync(join(webRoot, 'assets'), { recursive: true });
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>histoseek</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(webRoot, 'assets', 'app.js'), 'console.log("histoseek");');
  app = await createServer({ db, webRoot, limits: { rate: null } });
});

after(async () => {
  await app?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('search', () => {
  test('an uploaded indexed patch finds itself first, at distance ≈ 0, with the majority label', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/search?k=5', ...multipart(readFileSync(patch('s2', 3)), { filename: 's2_003.png' }) });
    assert.equal(r.statusCode, 200, r.body);
    const answer = r.json();
    assert.deepEqual(answer.query, { kind: 'upload', name: 's2_003.png', width: 128, height: 128, format: 'png' });
    assert.equal(answer.results.length, 5);
    assert.equal(answer.results[0].path, patch('s2', 3));
    assert.ok(answer.results[0].distance < 1e-4, `distance ${answer.results[0].distance}`);
    assert.equal(answer.results[0].label, 's2');
    assert.equal(answer.results[0].thumbnail, `/api/items/${answer.results[0].id}/thumbnail`);
    assert.ok(answer.results.every((x: { rank: number; distance: number }, i: number) => x.rank === i + 1 && (i === 0 || x.distance >= answer.results[i - 1].distance)));
    const votes = answer.results.filter((x: { label: string }) => x.label === answer.majority.label).length;
    assert.deepEqual(answer.majority, { label: answer.majority.label, votes, of: 5 });
  });

  test('only JPEG, PNG, TIFF and WebP signatures are decoded before the probe has named the format', async () => {
    const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#a5a' } }).png().toBuffer();
    const accepted = [
      await sharp(png).jpeg().toBuffer(),
      png,
      await sharp(png).tiff().toBuffer(),
      await sharp(png).tiff({ bigtiff: true }).toBuffer(),
      Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]), // big-endian TIFF header
      await sharp(png).webp().toBuffer(),
    ];
    for (const bytes of accepted) assert.ok(startsLikeAccepted(bytes), `accepted: ${bytes.subarray(0, 12).toString('hex')}`);
    const refused = [
      await sharp(png).gif().toBuffer(),
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>'),
      Buffer.from('RIFF\0\0\0\0WAVEfmt '),
      Buffer.from([0xff, 0xd8]),
      Buffer.alloc(0),
    ];
    for (const bytes of refused) assert.ok(!startsLikeAccepted(bytes), `refused: ${bytes.subarray(0, 12).toString('hex')}`);
  });

  test('TIFF and WebP uploads are read too (lossless: the patch finds itself)', async () => {
    const png = readFileSync(patch('s4', 2));
    for (const [format, bytes] of [
      ['tiff', await sharp(png).tiff({ compression: 'lzw' }).toBuffer()],
      ['webp', await sharp(png).webp({ lossless: true }).toBuffer()],
    ] as const) {
      const r = await app.inject({ method: 'POST', url: '/api/search?k=1', ...multipart(bytes, { filename: `s4_002.${format}` }) });
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
    assert.ok(self.results[0].distance < 1e-5);
    const other = (await app.inject(`/api/search?item=7&k=20&exclude_slide=${item.slide}`)).json();
    assert.equal(other.results.length, 20);
    assert.ok(other.results.every((x: { slide: string }) => x.slide !== item.slide));
  });

  test('bad parameters are 400s that name the parameter', async () => {
    for (const url of ['/api/search', '/api/search?item=abc', '/api/search?item=1&k=0', '/api/search?item=1&k=101', '/api/search?item=-1', '/api/search?item=1&colour=red']) {
      const r = await app.inject(url);
      assert.equal(r.statusCode, 400, url);
      assert.match(r.json().error, /querystring/, url);
    }
    assert.equal((await app.inject('/api/search?item=99999')).statusCode, 404);
  });
});

describe('items, index, report, OpenAPI', () => {
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
    for (const key of ['eta_p', 'eta_w', 'eta_w_precision', 'eta_tot', 'recall_at_1', 'recall_at_5', 'recall_at_10', 'map_at_10', 'mv_at_5']) assert.equal(typeof metrics[key], 'number', key);
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
    assert.deepEqual(doc.paths['/api/search'].get.parameters.map((p: { name: string }) => p.name).sort(), ['exclude_slide', 'include_self', 'item', 'k']);
    assert.ok(doc.paths['/api/search'].post.responses['413']);
  });
});

describe('embedding map', () => {
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

describe('slides (Deep Zoom)', () => {
  test('the demo slides are listed and tiled; unknown slides and tiles are 404s', async () => {
    assert.deepEqual((await app.inject('/api/slides')).json().slides, ['s0', 's1', 's2', 's3', 's4', 's5']);
    const info = (await app.inject('/api/slides/s1')).json();
    assert.equal(info.width, 768);
    assert.equal(info.maxLevel, 10);
    const tile = await app.inject(`/api/slides/s1/tiles/${info.maxLevel}/2_2.jpeg`);
    assert.equal(tile.statusCode, 200);
    const meta = await sharp(tile.rawPayload).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 256]);
    const whole = await sharp((await app.inject(`/api/slides/s1/tiles/${info.maxLevel - 2}/0_0.jpeg`)).rawPayload).metadata();
    assert.deepEqual([whole.width, whole.height], [192, 192]);
    assert.equal((await app.inject('/api/slides/s9')).statusCode, 404);
    assert.equal((await app.inject(`/api/slides/s1/tiles/${info.maxLevel}/3_0.jpeg`)).statusCode, 404);
    assert.equal((await app.inject('/api/slides/s1/tiles/11/0_0.jpeg')).statusCode, 404);
  });
});

describe('hostile requests', () => {
  test('a 50 MB upload is a 413, announced or streamed', async () => {
    const big = multipart(Buffer.alloc(50 * 1024 * 1024, 7));
    const announced = await app.inject({ method: 'POST', url: '/api/search', ...big });
    assert.equal(announced.statusCode, 413);
    assert.match(announced.json().error, /limit/);
    // Chunked, with no length to refuse up front: the multipart parser stops at the limit.
    const streamed = await app.inject({ method: 'POST', url: '/api/search', headers: big.headers, payload: Readable.from([big.payload]) });
    assert.equal(streamed.statusCode, 413);
  });

  test('a 30 000 × 30 000 PNG is refused from its header, fast', async () => {
    const started = performance.now();
    const r = await app.inject({ method: 'POST', url: '/api/search', ...multipart(bombPng(30_000, 30_000)) });
    const ms = performance.now() - started;
    assert.equal(r.statusCode, 413);
    assert.match(r.json().error, /30000×30000/);
    assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
  });

  test('non-images, other formats, broken and tiny images are 4xx with the reason', async () => {
    const cases: [Buffer, number, RegExp][] = [
      [Buffer.from('just some text, not an image\n'), 415, /not an image/],
      [Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>'), 415, /svg/],
      [readFileSync(patch('s0', 1)).subarray(0, 2000), 422, /truncated|corrupt/],
      [await sharp({ create: { width: 8, height: 8, channels: 3, background: '#a5a' } }).png().toBuffer(), 422, /smallest accepted side/],
    ];
    for (const [bytes, status, reason] of cases) {
      const r = await app.inject({ method: 'POST', url: '/api/search', ...multipart(bytes) });
      assert.equal(r.statusCode, status, r.body);
      assert.match(r.json().error, reason);
    }
    const wrongField = await app.inject({ method: 'POST', url: '/api/search', ...multipart(readFileSync(patch('s0', 1)), { field: 'file' }) });
    assert.equal(wrongField.statusCode, 400);
    const json = await app.inject({ method: 'POST', url: '/api/search', payload: { image: 'x' } });
    assert.equal(json.statusCode, 415);
    assert.match(json.json().error, /multipart/);
  });

  test('../ in any parameter never reaches a file outside the index', async () => {
    const secret = readFileSync(join(ROOT, 'package.json'), 'utf8');
    const urls = [
      '/api/items/..%2F..%2Fpackage.json',
      '/api/items/..%2F..%2Fpackage.json/thumbnail',
      '/api/items/../../package.json',
      '/api/search?item=..%2F..%2Fpackage.json',
      '/api/slides/..%2F..%2Fpackage.json',
      '/api/slides/..',
      '/api/slides/s0/tiles/0/..%2F..%2F..%2Fpackage.json',
      '/api/slides/s0/tiles/..%2F0/0_0.jpeg',
      '/../package.json',
      '/..%2Fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/assets/..%2F..%2F..%2Fpackage.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/package.json',
      '/api/report/..%2F..%2Fpackage.json',
    ];
    for (const url of urls) {
      const r = await app.inject(url);
      assert.ok(r.statusCode === 400 || r.statusCode === 404, `${url}: ${r.statusCode}`);
      assert.equal(r.headers['content-type']?.toString().startsWith('application/json'), true, url);
      assert.ok(!r.body.includes(secret.slice(0, 40)), url);
    }
    const excluded = await app.inject('/api/search?item=1&exclude_slide=..%2F..%2Fetc');
    assert.equal(excluded.statusCode, 200);
    assert.ok(excluded.json().results.every((x: { path: string }) => x.path.startsWith(join(dir, 'collection'))));
    // The built page itself is served.
    assert.match((await app.inject('/')).body, /<title>histoseek/);
    assert.equal((await app.inject('/assets/app.js')).statusCode, 200);
  });

  test('a burst of 1000 requests gets 429s past the limit, and the server keeps answering', async () => {
    const limited = await createServer({ db, webRoot, limits: { rate: { perSecond: 20, burst: 50 } } });
    try {
      const burst = await Promise.all(Array.from({ length: 1000 }, () => limited.inject('/api/items/0')));
      const codes = burst.map((r) => r.statusCode);
      assert.equal(codes.filter((c) => c === 200).length + codes.filter((c) => c === 429).length, 1000);
      assert.ok(codes.filter((c) => c === 200).length >= 50 && codes.filter((c) => c === 200).length < 100, `${codes.filter((c) => c === 200).length} answered`);
      const refused = burst.find((r) => r.statusCode === 429)!;
      assert.match(refused.json().error, /too many requests/);
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      // Another client is served at once; the flooding one after its bucket refills.
      assert.equal((await limited.inject({ url: '/api/search?item=3&k=3', remoteAddress: '127.0.0.2' })).statusCode, 200);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await limited.inject('/api/search?item=3&k=3')).statusCode, 200);
    } finally {
      await limited.close();
    }
  });
});

test('an index extended while searches run is picked up by the next request', async () => {
  const source = join(dir, 'extra.png');
  copyFileSync(patch('s4', 2), source);
  const first = (await app.inject('/api/items/0')).json();
  const searches = Array.from({ length: 20 }, (_, i) => app.inject(`/api/search?item=${i}&k=5`));
  const reader = IndexStore.open(db);
  const model = reader.model;
  reader.close();
  const store = IndexStore.openOrCreate(db, model);
  try {
    // The appended item reuses item 0's descriptor, so it must come back as item 0's twin.
    const vectors = store.loadVectors().slice(0, store.model.dim);
    const raw = store.loadRawVectors().slice(0, store.model.dim);
    store.append([{ source, label: first.label, slide: first.slide, x: 16, y: 32, width: 128, height: 128 }], vectors, raw);
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
  assert.ok(twin.results[0].distance < 1e-5);
  assert.equal((await app.inject('/api/items/72/thumbnail')).statusCode, 200);
});
