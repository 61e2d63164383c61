import assert from 'node:assert/strict';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ExactSearch, type SearchHits } from '../src/store/vectors/exact-search.js';
import { VectorColumn } from '../src/store/vectors/column.js';
import { VectorGraph } from '../src/store/vectors/graph.js';
import { Random } from '../src/util/random.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

function unitVectors(count: number, dim: number, seed: number): Float32Array {
  const data = new Random(seed).fillNormal(new Float32Array(count * dim));
  for (let i = 0; i < count; i++) {
    const row = data.subarray(i * dim, (i + 1) * dim);
    let norm = 0;
    for (const v of row) norm += v * v;
    const scale = 1 / Math.sqrt(norm);
    for (let j = 0; j < dim; j++) row[j] *= scale;
  }
  return data;
}

/** Brute force in float64: squared L2 distances, sorted by (distance, id). */
function reference(
  database: Float32Array,
  count: number,
  queries: Float32Array,
  nQueries: number,
  dim: number,
  k: number,
  exclude?: (id: number) => boolean,
): SearchHits {
  const ids = new Int32Array(nQueries * k).fill(-1);
  const distances = new Float32Array(nQueries * k).fill(Infinity);
  for (let q = 0; q < nQueries; q++) {
    const all: { id: number; distance: number }[] = [];
    for (let id = 0; id < count; id++) {
      if (exclude?.(id)) continue;
      let distance = 0;
      for (let j = 0; j < dim; j++) distance += (database[id * dim + j] - queries[q * dim + j]) ** 2;
      all.push({ id, distance });
    }
    all.sort((a, b) => a.distance - b.distance || a.id - b.id);
    all.slice(0, k).forEach(({ id, distance }, j) => {
      ids[q * k + j] = id;
      distances[q * k + j] = distance;
    });
  }
  return { ids, distances, k };
}

function assertSameHits(actual: SearchHits, expected: SearchHits): void {
  assert.equal(actual.k, expected.k);
  assert.deepEqual(Array.from(actual.ids), Array.from(expected.ids));
  actual.distances.forEach((d, i) => {
    const e = expected.distances[i];
    if (e === Infinity) assert.equal(d, Infinity, `distance ${i}`);
    else assert.ok(Math.abs(d - e) <= 1e-4, `distance ${i}: ${d} vs ${e}`);
  });
}

describe('ExactSearch', { timeout: TIMEOUT }, () => {
  const dim = 512;
  const count = 2500; // 3 chunks of 1000 rows, the last one partial
  const database = unitVectors(count, dim, 1);
  const queries = unitVectors(16, dim, 2);
  let search: ExactSearch;

  before(async () => {
    search = await ExactSearch.create(dim, { chunkRows: 1000 });
  });
  after(() => search.release());

  test('a single query matches brute force', async () => {
    const hits = await search.search(database, count, queries, 1, 10);
    assertSameHits(hits, reference(database, count, queries, 1, dim, 10));
  });

  test('a batch matches brute force, across chunk boundaries', async () => {
    const hits = await search.search(database, count, queries, 16, 10);
    assertSameHits(hits, reference(database, count, queries, 16, dim, 10));
  });

  test('more queries than one run holds are split into blocks', async () => {
    const wide = await ExactSearch.create(dim, { chunkRows: 1 << 20 }); // 16 queries per run
    try {
      const many = unitVectors(40, dim, 3);
      assertSameHits(await wide.search(database, 300, many, 40, 5), reference(database, 300, many, 40, dim, 5));
    } finally {
      await wide.release();
    }
  });

  test('k larger than count pads with -1 and Infinity', async () => {
    const hits = await search.search(database, 7, queries, 2, 10);
    assertSameHits(hits, reference(database, 7, queries, 2, dim, 10));
    assert.deepEqual(Array.from(hits.ids.subarray(7, 10)), [-1, -1, -1]);
  });

  test('an empty store returns no hits', async () => {
    const hits = await search.search(database, 0, queries, 1, 3);
    assert.deepEqual(Array.from(hits.ids), [-1, -1, -1]);
  });

  test('exclude drops rows and still returns k valid ones', async () => {
    // Every third row, and all but four rows of the middle chunk (whose TopK must widen to its full size).
    const exclude = (id: number) => id % 3 === 0 || (id >= 1000 && id < 1996);
    const hits = await search.search(database, count, queries, 16, 10, exclude);
    assertSameHits(hits, reference(database, count, queries, 16, dim, 10, exclude));
    assert.ok(hits.ids.every((id) => id !== -1 && !exclude(id)));
  });

  test('exclude with fewer valid rows than k pads the rest', async () => {
    const exclude = (id: number) => id !== 42 && id !== 2499;
    const hits = await search.search(database, count, queries, 1, 4, exclude);
    assert.deepEqual(new Set(hits.ids.subarray(0, 2)), new Set([42, 2499]));
    assert.deepEqual(Array.from(hits.ids.subarray(2)), [-1, -1]);
  });

  test('a stored vector finds itself first at distance ≈ 0', async () => {
    const rows = [0, 999, 1000, 2499];
    const probe = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => probe.set(database.subarray(row * dim, (row + 1) * dim), i * dim));
    const hits = await search.search(database, count, probe, rows.length, 3);
    rows.forEach((row, i) => {
      assert.equal(hits.ids[i * 3], row);
      assert.ok(hits.distances[i * 3] < 1e-5, `self distance ${hits.distances[i * 3]}`);
    });
  });

  test('the store may be a view into a larger buffer', async () => {
    const padded = new Float32Array((count + 3) * dim);
    padded.set(database, 3 * dim);
    const hits = await search.search(padded.subarray(3 * dim), count, queries.subarray(dim), 2, 10);
    assertSameHits(hits, reference(database, count, queries.subarray(dim), 2, dim, 10));
  });

  test('rejects arrays shorter than the counts say', async () => {
    await assert.rejects(search.search(database, count + 1, queries, 1, 10), /fewer than count/);
    await assert.rejects(search.search(database, count, queries, 17, 10), /fewer than nQueries/);
    await assert.rejects(search.search(database, count, queries, 1, 0), /k must be/);
  });

  test("scans of an index's column match brute force; concurrent scans read into their own buffers, later ones reuse them", async (t) => {
    const dir = await temporaryFolder('histoseek-scan-', t);
    const column = new VectorColumn(dir, 'f32', dim, true);
    t.after(() => column.close());
    column.write(0, database, count);
    const allocate = t.mock.method(column, 'chunkBuffers');
    const expected = (q: number) => reference(database, count, queries.subarray(q * dim), 1, dim, 10);
    const scan = (q: number) => search.scan(column, 0, count, queries.subarray(q * dim, (q + 1) * dim), 1, 10);

    const together = await Promise.all([0, 1, 2].map(scan));
    together.forEach((hits, q) => assertSameHits(hits, expected(q)));
    assert.equal(allocate.mock.callCount(), 3, 'one set of buffers per scan in flight');
    for (const q of [3, 4, 5, 6]) assertSameHits(await scan(q), expected(q));
    assert.equal(allocate.mock.callCount(), 3, 'later scans reuse them');
  });

  // float16 once failed on Node.js 24 ("not enough space: expected …, got 0"): see src/store/vectors/exact-search.ts.
  for (const kind of ['f16', 'i8'] as const) {
    test(`scans of a ${kind} column find the neighbours brute force finds among the stored rows`, async (t) => {
      const dir = await temporaryFolder(`histoseek-scan-${kind}-`, t);
      const column = new VectorColumn(dir, kind, dim, true);
      t.after(() => column.close());
      column.write(0, database, count);
      const stored = new Float32Array(count * dim);
      const planes = column.readChunk(0, count, column.chunkBuffers(count));
      for (let i = 0; i < count; i++) column.codec.decodeRow(planes, i, stored, i * dim);
      // The graph reports 2 − 2·(row · query) for the decoded rows, which are unit length only to the
      // codec's precision, so that is the brute force here.
      const expected: SearchHits = { ids: new Int32Array(40), distances: new Float32Array(40), k: 10 };
      for (let q = 0; q < 4; q++) {
        const all = Array.from({ length: count }, (_, id) => {
          let dot = 0;
          for (let j = 0; j < dim; j++) dot += stored[id * dim + j] * queries[q * dim + j];
          return { id, distance: 2 - 2 * dot };
        }).sort((a, b) => a.distance - b.distance || a.id - b.id);
        all.slice(0, 10).forEach(({ id, distance }, j) => {
          expected.ids[q * 10 + j] = id;
          expected.distances[q * 10 + j] = distance;
        });
      }
      const typed = await ExactSearch.create(dim, { chunkRows: 1000, kind });
      t.after(() => typed.release());
      const hits = await typed.scan(column, 0, count, queries, 4, 10);
      assertSameHits(hits, expected);
    });
  }
});

/** Size and resident kB of this process's mappings of `file`, from /proc/self/smaps. */
function residentMapping(file: string): { sizeKb: number; rssKb: number } {
  const totals = { sizeKb: 0, rssKb: 0 };
  let inFile = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.split(/ +/).slice(5).join(' ') === file;
    else if (inFile && line.startsWith('Size:')) totals.sizeKb += Number(line.split(/ +/)[1]);
    else if (inFile && line.startsWith('Rss:')) totals.rssKb += Number(line.split(/ +/)[1]);
  }
  return totals;
}

describe('VectorGraph (int8 HNSW)', { timeout: TIMEOUT }, () => {
  const dim = 128;
  const count = 4000;
  const database = unitVectors(count, dim, 21);
  const rows = Array.from({ length: count }, (_, i) => i);
  let dir: string;

  before(async () => {
    dir = await temporaryFolder('histoseek-graph-');
  });

  test('a stored vector finds its own row first', () => {
    // One insertion thread: usearch's two-thread builds differ run to run, and one in many missed a row here.
    const graph = VectorGraph.create(dim, 1);
    graph.add(rows, database);
    assert.equal(graph.size, count);
    const found = graph.search(database.subarray(0, 50 * dim), 50, 5);
    for (let q = 0; q < 50; q++) assert.equal(found.ids[q * 5], q, `query ${q}`);
  });

  test('adding rows it holds changes nothing; removed rows are never proposed', () => {
    const graph = VectorGraph.create(dim);
    graph.add(rows, database);
    graph.add([3, 4], database.subarray(3 * dim, 5 * dim));
    assert.equal(graph.size, count);
    graph.remove([3]);
    assert.equal(graph.contains(3), false);
    const found = graph.search(database.subarray(3 * dim, 4 * dim), 1, 50);
    assert.ok(!Array.from(found.ids).includes(3));
  });

  test('saved atomically; loaded and memory-mapped copies answer alike; a wrong size is refused', () => {
    const graph = VectorGraph.create(dim);
    graph.add(rows, database);
    const file = path.join(dir, 'graph.usearch');
    const bytes = graph.save(file);
    const queries = database.subarray(100 * dim, 120 * dim);
    const before = graph.search(queries, 20, 30);
    for (const writable of [true, false]) {
      const opened = VectorGraph.open(file, dim, bytes, { writable });
      assert.equal(opened.size, count);
      assert.deepEqual(Array.from(opened.search(queries, 20, 30).ids), Array.from(before.ids));
    }
    assert.throws(() => VectorGraph.open(file, dim, bytes + 1, { writable: false }), /the search graph is damaged/);
    assert.throws(
      () => VectorGraph.open(path.join(dir, 'none.usearch'), dim, bytes, { writable: false }),
      /the search graph is missing/,
    );
  });

  test('a memory-mapped graph is resident as soon as it is opened', (t) => {
    if (process.platform !== 'linux') return t.skip('mappings are populated on Linux only');
    const graph = VectorGraph.create(dim);
    graph.add(rows, database);
    const file = path.join(dir, 'resident.usearch');
    const bytes = graph.save(file);
    VectorGraph.open(file, dim, bytes, { writable: false });
    const mapped = residentMapping(realpathSync(file));
    assert.ok(mapped.sizeKb * 1024 >= bytes, `mapped ${mapped.sizeKb} kB of ${bytes} bytes`);
    assert.equal(mapped.rssKb, mapped.sizeKb, 'every page of the mapping is resident');
  });

  test('more candidates than rows: every row once, then -1', () => {
    const graph = VectorGraph.create(dim);
    graph.add([7, 8, 9], database.subarray(0, 3 * dim));
    const found = graph.search(database.subarray(dim, 2 * dim), 1, 5);
    assert.equal(found.ids[0], 8);
    assert.deepEqual(new Set(found.ids.subarray(0, 3)), new Set([7, 8, 9]));
    assert.deepEqual(Array.from(found.ids.subarray(3)), [-1, -1]);
  });
});
