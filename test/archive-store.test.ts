/**
 * The archive-scale index (format 3) without a model: stored precisions, streamed exact search,
 * the binary-code graph and two-stage search, removals, crashes, old indexes and bad input —
 * on seeded clustered unit vectors written straight into the store.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { GRAPH_FILE, VectorGraph } from '../src/store/vectors/graph.js';
import { ExactSearch, type SearchHits } from '../src/store/vectors/exact-search.js';
import { defaultCandidates, rerankedCount, Searcher } from '../src/store/folder/search.js';
import type { Hit, ItemRecord, ModelIdentity, VectorKind } from '../src/store/types.js';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import { HALF_TO_FLOAT, toHalf, vectorCodec } from '../src/store/vectors/codec.js';
import { upgradeIndex } from '../src/store/folder/upgrade.js';
import { Random } from '../src/util/random.js';
import { histoseek, runScript, temporaryFolder } from './helpers.js';

const DIM = 64;
const MODEL: ModelIdentity = { id: 'test vectors', hash: 'test-vectors-64', dim: DIM, inputSize: 224 };
const tempDir = () => temporaryFolder('histoseek-archive-');

/** `n` unit vectors around 50 seeded centres (noise 0.6 per component), rows from `first` on. */
function clustered(n: number, seed = 1, first = 0): Float32Array {
  const centres = new Random(99).fillNormal(new Float32Array(50 * DIM));
  const random = new Random(seed * 1_000_003 + first);
  const out = new Float32Array(n * DIM);
  for (let r = 0; r < n; r++) {
    const c = (first + r) % 50;
    let norm = 0;
    for (let j = 0; j < DIM; j++) {
      const v = centres[c * DIM + j] + 0.6 * random.normal();
      out[r * DIM + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < DIM; j++) out[r * DIM + j] /= Math.sqrt(norm);
  }
  return out;
}

/** Slide patches; those of even slides carry their box (their source is stored as path + box), odd ones not. */
function items(first: number, n: number): ItemRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const slide = Math.floor((first + i) / 100);
    const box = slide % 2 === 0 ? { x: i, y: 0, width: 448, height: 448 } : {};
    return {
      source: `/archive/slide-${slide}.svs#region=${i},0,448,448`,
      label: `c${(first + i) % 50}`,
      slide: `slide-${slide}`,
      ...box,
    };
  });
}

/** Rewrites an index's metadata as format 2 kept it: one items table with every item in full. */
function toFormat2(dir: string): void {
  const db = new Database(join(dir, 'histoseek.sqlite'));
  db.exec(`
    CREATE TABLE items_v2 (row INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE, label TEXT NOT NULL, slide TEXT, patient TEXT,
      x INTEGER, y INTEGER, width INTEGER, height INTEGER, collection TEXT, removed INTEGER NOT NULL DEFAULT 0, norm REAL);
    INSERT INTO items_v2 SELECT row, source, label, slide, patient, x, y, width, height, collection, removed, norm FROM items;
    DROP VIEW items; DROP TABLE patches; DROP TABLE sources; DROP TABLE labels;
    ALTER TABLE items_v2 RENAME TO items;
    CREATE INDEX items_slide ON items(slide); CREATE INDEX items_collection ON items(collection);
    UPDATE meta SET value = 'histoseek-index/2' WHERE key = 'format';`);
  db.close();
}

/** An index of `n` rows of `clustered(n)`, appended in batches of 500. */
function build(dir: string, n: number, vectors: VectorKind = 'f16'): Float32Array {
  const data = clustered(n);
  const store = FolderIndex.openOrCreate(dir, MODEL, { vectors });
  try {
    for (let first = 0; first < n; first += 500) {
      const count = Math.min(500, n - first);
      store.append(
        items(first, count),
        data.subarray(first * DIM, (first + count) * DIM),
        new Float32Array(count).fill(2),
      );
    }
  } finally {
    store.close();
  }
  return data;
}

async function exactTruth(
  data: Float32Array,
  n: number,
  queries: Float32Array,
  nq: number,
  k = 10,
): Promise<SearchHits> {
  const exact = await ExactSearch.create(DIM);
  try {
    return await exact.search(data, n, queries, nq, k);
  } finally {
    await exact.release();
  }
}

async function searchIndex(
  dir: string,
  queries: Float32Array,
  nq: number,
  mode: 'exact' | 'two-stage',
  k = 10,
): Promise<Hit[][]> {
  const store = FolderIndex.open(dir);
  const searcher = await Searcher.open(store, { mode });
  try {
    return await searcher.search(queries, nq, { k });
  } finally {
    await searcher.release();
    store.close();
  }
}

function recall(truth: SearchHits, hits: Hit[][]): number {
  let found = 0;
  hits.forEach((ranked, q) => {
    const want = new Set(truth.ids.subarray(q * truth.k, (q + 1) * truth.k));
    found += ranked.filter((h) => want.has(h.row)).length;
  });
  return found / (hits.length * truth.k);
}

describe('vector codecs', () => {
  test(
    'float16: exact values, round to nearest even, every finite half survives a round trip',
    { timeout: 30_000 },
    () => {
      assert.equal(toHalf(1), 0x3c00);
      assert.equal(toHalf(-2), 0xc000);
      assert.equal(toHalf(65504), 0x7bff);
      assert.equal(toHalf(1e6), 0x7c00);
      assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to the even neighbour');
      assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02);
      assert.equal(toHalf(2 ** -24), 0x0001, 'smallest subnormal');
      assert.equal(toHalf(2 ** -26), 0x0000);
      for (let h = 0; h < 65536; h++) {
        if (Number.isNaN(HALF_TO_FLOAT[h])) continue;
        assert.equal(toHalf(HALF_TO_FLOAT[h]), h, `half 0x${h.toString(16)}`);
      }
    },
  );

  test('int8 with a scale per row: every component within half a step of the original', { timeout: 30_000 }, () => {
    const codec = vectorCodec('i8', DIM);
    const data = clustered(20);
    const planes = codec.encode(data, 20);
    const out = new Float32Array(DIM);
    for (let r = 0; r < 20; r++) {
      codec.decodeRow(planes, r, out, 0);
      const row = data.subarray(r * DIM, (r + 1) * DIM);
      const step = Math.max(...row.map(Math.abs)) / 127;
      for (let j = 0; j < DIM; j++) assert.ok(Math.abs(out[j] - row[j]) <= step / 2 + 1e-7, `row ${r} value ${j}`);
    }
  });

  test("dotRow gives exactly the dot product of decodeRow's floats, for every precision", { timeout: 30_000 }, () => {
    const data = clustered(20);
    const query = clustered(1, 5);
    for (const kind of ['f32', 'f16', 'i8'] as const) {
      const codec = vectorCodec(kind, DIM);
      const planes = codec.encode(data, 20);
      const out = new Float32Array(DIM);
      for (let r = 0; r < 20; r++) {
        codec.decodeRow(planes, r, out, 0);
        const expected = out.reduce((sum, value, j) => sum + value * query[j], 0);
        assert.equal(codec.dotRow(planes, r, query), expected, `${kind} row ${r}`);
        // Row 0 shares the query's cluster: a real cosine, not a sum of zeros.
        if (r === 0) assert.ok(expected > 0.5, `${kind}: cosine ${expected} with a row of the same cluster`);
      }
    }
  });
});

describe('stored precision', async () => {
  const n = 3000;
  const queries = clustered(100, 7);
  const indexes = new Map<VectorKind, string>();
  for (const kind of ['f32', 'f16', 'i8'] as const) indexes.set(kind, join(await tempDir(), kind));
  const data = clustered(n);
  for (const [kind, dir] of indexes) build(dir, n, kind);
  const truth = await exactTruth(data, n, queries, 100);

  test('bytes per row on disk: 4d, 2d, d + 4', { timeout: 180_000 }, () => {
    const sizes = Object.fromEntries(
      [...indexes].map(([kind, dir]) => [
        kind,
        ['f32', 'f16', 'i8', 'i8-scale'].reduce(
          (sum, s) => sum + (existsSync(join(dir, `vectors.${s}`)) ? statSync(join(dir, `vectors.${s}`)).size : 0),
          0,
        ) / n,
      ]),
    );
    assert.deepEqual(sizes, { f32: 4 * DIM, f16: 2 * DIM, i8: DIM + 4 });
  });

  test('exact search streamed from each precision against float32 in memory', { timeout: 180_000 }, async () => {
    const f32 = await searchIndex(indexes.get('f32')!, queries, 100, 'exact');
    assert.deepEqual(
      f32.map((r) => r.map((h) => h.row)),
      Array.from({ length: 100 }, (_, q) => Array.from(truth.ids.subarray(q * 10, (q + 1) * 10))),
    );
    f32.forEach((ranked, q) =>
      ranked.forEach((h, j) => assert.ok(Math.abs(h.distance - truth.distances[q * 10 + j]) < 1e-5)),
    );
    const f16 = recall(truth, await searchIndex(indexes.get('f16')!, queries, 100, 'exact'));
    const i8 = recall(truth, await searchIndex(indexes.get('i8')!, queries, 100, 'exact'));
    assert.ok(f16 >= 0.99, `f16 recall@10 ${f16}`);
    assert.ok(i8 >= 0.95, `i8 recall@10 ${i8}`);
  });
});

describe('the search graph and two-stage search', () => {
  test(
    'built as the index is, stamped with the rows it covers on close; two-stage recall@10 ≥ 0.98',
    { timeout: 180_000 },
    async () => {
      const dir = join(await tempDir(), 'db');
      const n = 6000;
      const data = build(dir, n);
      const store = FolderIndex.open(dir);
      assert.equal(store.graphStamp()?.rows, n);
      store.close();
      const queries = clustered(200, 7);
      const truth = await exactTruth(data, n, queries, 200);
      const hits = await searchIndex(dir, queries, 200, 'two-stage');
      const r = recall(truth, hits);
      assert.ok(r >= 0.98, `two-stage recall@10 ${r}`);
      // Re-ranked distances are exact (float16 vectors): within a float16 step of the float32 truth where the ids agree.
      hits.forEach((ranked, q) =>
        ranked.forEach(
          (h, j) =>
            h.row === truth.ids[q * 10 + j] && assert.ok(Math.abs(h.distance - truth.distances[q * 10 + j]) < 2e-3),
        ),
      );
    },
  );

  test(
    'the graph candidates by default grow with the archive; a count asked for wins',
    { timeout: 180_000 },
    async () => {
      const sizes = [0, 1_999_999, 2_000_000, 5_999_999, 6_000_000, 100_000_000];
      assert.deepEqual(
        sizes.map((n) => defaultCandidates(n, 256)),
        [320, 320, 640, 640, 2560, 2560],
      );
      assert.deepEqual(
        [128, 256, 512, 2048].map((dim) => defaultCandidates(1_000_000, dim)),
        [320, 320, 640, 2560],
      );
      const dir = join(await tempDir(), 'db');
      build(dir, 500);
      const store = FolderIndex.open(dir);
      for (const [asked, used] of [
        [undefined, 320],
        [48, 48],
      ] as const) {
        const searcher = await Searcher.open(store, { mode: 'two-stage', candidates: asked });
        assert.equal(searcher.candidates, used);
        await searcher.release();
      }
      store.close();
    },
  );

  test(
    "only the graph's nearest rerankedCount(k, dim) candidates are read and re-ranked, and they hold the exact top-k",
    { timeout: 180_000 },
    async () => {
      assert.deepEqual(
        [1, 10, 12, 13, 50].map((k) => rerankedCount(k, DIM)),
        [100, 100, 100, 104, 400],
      );
      assert.deepEqual(
        [256, 512, 1024, 2048].map((dim) => rerankedCount(10, dim)),
        [100, 100, 200, 400],
      );
      const dir = join(await tempDir(), 'db');
      const n = 3000;
      const data = build(dir, n);
      const queries = clustered(100, 11);
      const store = FolderIndex.open(dir);
      const reads: number[] = [];
      const score = store.cosines.bind(store);
      store.cosines = (rows, query) => {
        reads.push(rows.length);
        return score(rows, query);
      };
      // Every row is a candidate: without the cap all 3000 would be read per query.
      const searcher = await Searcher.open(store, { mode: 'two-stage', candidates: n });
      try {
        const hits = await searcher.search(queries, 100, { k: 10 });
        assert.deepEqual(new Set(reads), new Set([100]));
        const r10 = recall(await exactTruth(data, n, queries, 100), hits);
        assert.ok(r10 >= 0.99, `recall@10 ${r10}`);
        reads.length = 0;
        const first20 = queries.subarray(0, 20 * DIM);
        const wide = await searcher.search(first20, 20, { k: 150 });
        assert.deepEqual(new Set(reads), new Set([1200]));
        assert.ok(wide.every((ranked) => ranked.length === 150));
        const r150 = recall(await exactTruth(data, n, first20, 20, 150), wide);
        assert.ok(r150 >= 0.99, `recall@150 ${r150}`);
      } finally {
        await searcher.release();
        store.close();
      }
    },
  );

  test(
    'the graph links each node to 16 others, 32 for vectors wider than 512, and reopens with that degree',
    { timeout: 180_000 },
    async () => {
      const dir = await tempDir();
      for (const [dim, degree] of [
        [64, 16],
        [512, 16],
        [1024, 32],
      ] as const) {
        const graph = VectorGraph.create(dim);
        assert.equal(graph.degree, degree, `${dim}-d`);
        const random = new Random(dim);
        const rows = Float32Array.from({ length: 50 * dim }, () => random.normal());
        graph.add(
          Array.from({ length: 50 }, (_, i) => i),
          rows,
        );
        const path = join(dir, `${dim}.usearch`);
        const bytes = graph.save(path);
        const opened = VectorGraph.open(path, dim, bytes, { writable: false });
        assert.equal(opened.degree, degree);
        assert.equal(opened.size, 50);
      }
    },
  );

  test(
    'rows a writer appended after the graph was saved are found (scanned), removed rows never are',
    { timeout: 180_000 },
    async () => {
      const dir = join(await tempDir(), 'db');
      const data = build(dir, 3000);
      const writer = FolderIndex.open(dir, { writable: true });
      const extra = clustered(200, 5);
      writer.append(items(3000, 200), extra, new Float32Array(200).fill(1));
      // The writer is still open: its graph on disk covers 3000 rows, the index 3200.
      const fresh = await searchIndex(dir, extra.subarray(17 * DIM, 18 * DIM), 1, 'two-stage', 1);
      assert.equal(fresh[0][0].row, 3017);
      assert.ok(fresh[0][0].distance < 1e-3);
      const query = data.slice(1234 * DIM, 1235 * DIM);
      const before = await searchIndex(dir, query, 1, 'two-stage', 1);
      assert.equal(before[0][0].row, 1234);
      assert.equal(writer.remove({ slide: 'slide-12' }), 100);
      writer.close();
      for (const mode of ['exact', 'two-stage'] as const) {
        const hits = (await searchIndex(dir, query, 1, mode, 50))[0];
        assert.equal(hits.length, 50);
        assert.ok(
          hits.every((h) => h.row < 1200 || h.row >= 1300),
          `${mode}: no row of the removed slide`,
        );
      }
      const reopened = FolderIndex.open(dir, { writable: true });
      reopened.append(items(3200, 1), clustered(1, 9), Float32Array.of(1));
      reopened.close();
      assert.equal(FolderIndex.open(dir).graphStamp()?.rows, 3201);
    },
  );

  test(
    'a writer killed before saving its graph: the next writer adds what is missing',
    { timeout: 180_000 },
    async () => {
      const dir = join(await tempDir(), 'db');
      build(dir, 2000);
      // A child appends 700 rows and dies with SIGKILL: committed rows, a graph stamped at 2000, a stale lock.
      const script = `
      import { FolderIndex } from './src/store/folder/folder-index.ts';
      const store = FolderIndex.open(${JSON.stringify(dir)}, { writable: true });
      const v = new Float32Array(700 * ${DIM}); for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.37 + 1) / Math.sqrt(${DIM} / 2);
      store.append(Array.from({ length: 700 }, (_, i) => ({ source: 'killed-' + i, label: 'x' })), v, new Float32Array(700).fill(1));
      process.kill(process.pid, 'SIGKILL');`;
      const child = runScript(script);
      assert.equal(child.signal, 'SIGKILL', child.stderr);
      assert.ok(existsSync(join(dir, 'index.lock')));
      const reader = FolderIndex.open(dir);
      assert.equal(reader.rows, 2700);
      assert.equal(reader.graphStamp()?.rows, 2000);
      reader.close();
      const writer = FolderIndex.open(dir, { writable: true });
      writer.append(items(2700, 1), clustered(1, 3), Float32Array.of(1));
      writer.close();
      const store = FolderIndex.open(dir);
      assert.equal(store.graphStamp()?.rows, 2701);
      const graph = store.openGraph()!;
      assert.equal(graph.size, 2701);
      store.close();
    },
  );
});

describe('bad input and damage: clear errors, the index intact', () => {
  test('a query of the wrong dimension', { timeout: 180_000 }, async () => {
    const dir = join(await tempDir(), 'db');
    build(dir, 100);
    await assert.rejects(
      searchIndex(dir, new Float32Array(DIM + 1), 1, 'exact'),
      /1 queries of this index need 64 values \(64 each\), got 65/,
    );
  });

  test(
    'a missing or truncated graph file: an error naming the fix; exact search and --rebuild-graph still work',
    { timeout: 180_000 },
    async () => {
      const dir = join(await tempDir(), 'db');
      const data = build(dir, 2000);
      const query = data.subarray(5 * DIM, 6 * DIM);
      truncateSync(join(dir, GRAPH_FILE), 1000);
      await assert.rejects(
        searchIndex(dir, query, 1, 'two-stage'),
        /graph\.usearch: the search graph is damaged \(1000 bytes, \d+ expected\); rebuild it with 'histoseek index --db .* --rebuild-graph'/,
      );
      unlinkSync(join(dir, GRAPH_FILE));
      await assert.rejects(searchIndex(dir, query, 1, 'two-stage'), /the search graph is missing; rebuild it with/);
      assert.equal((await searchIndex(dir, query, 1, 'exact'))[0][0].row, 5);
      const r = histoseek('index', '--db', dir, '--rebuild-graph');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /search graph of 2000 items written/);
      assert.equal((await searchIndex(dir, query, 1, 'two-stage'))[0][0].row, 5);
    },
  );

  test('two writers: the second is told who holds the index', { timeout: 180_000 }, async () => {
    const dir = join(await tempDir(), 'db');
    build(dir, 10);
    const first = FolderIndex.open(dir, { writable: true });
    try {
      const script = `import { FolderIndex } from './src/store/folder/folder-index.ts'; FolderIndex.open(${JSON.stringify(dir)}, { writable: true });`;
      const second = runScript(script);
      assert.notEqual(second.status, 0);
      assert.match(second.stderr, new RegExp(`the index is being written by PID ${process.pid}`));
    } finally {
      first.close();
    }
  });

  test(
    'a full disk while building: a clear error, and every batch committed before it intact',
    { timeout: 180_000 },
    async (t) => {
      if (process.getuid?.() !== 0) return t.skip('mounting a small tmpfs needs root (CI runs as root)');
      const mount = join(await tempDir(), 'small');
      await mkdir(mount);
      assert.equal(
        spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=400k', 'tmpfs', mount], { timeout: 30_000 }).status,
        0,
      );
      try {
        const dir = join(mount, 'db');
        const data = clustered(4000);
        const store = FolderIndex.openOrCreate(dir, MODEL, { vectors: 'f32' });
        let committed = 0;
        let failure: Error | null = null;
        try {
          for (; committed < 4000; committed += 100)
            store.append(
              items(committed, 100),
              data.subarray(committed * DIM, (committed + 100) * DIM),
              new Float32Array(100).fill(1),
            );
        } catch (err) {
          failure = err as Error;
        }
        assert.ok(failure, 'the disk filled up');
        assert.match(
          failure.message,
          /the disk is full; the items committed before this batch are intact — free some space and rerun to resume/,
        );
        try {
          store.close();
        } catch {
          // Saving the graph may fail on the full disk too; the items are what must survive.
        }
        const reader = FolderIndex.open(dir);
        assert.equal(reader.rows, committed);
        const rows = Array.from({ length: committed }, (_, i) => i);
        assert.deepEqual(reader.vectors(rows), data.subarray(0, committed * DIM));
        reader.close();
      } finally {
        spawnSync('umount', [mount], { timeout: 30_000 });
      }
    },
  );
});

describe('indexes made by an earlier histoseek (format 1)', () => {
  test(
    'open for search; a write names --upgrade; the upgrade keeps every item and ranking',
    { timeout: 180_000 },
    async () => {
      const dir = join(await tempDir(), 'db');
      const data = build(dir, 1500, 'f32');
      // Turn it into format 1: its meta, raw descriptors (norm 2) beside the vectors, no norm column, no graph.
      const raw = new Float32Array(data.length).map((_, i) => 2 * data[i]);
      await writeFile(join(dir, 'raw.f32'), new Uint8Array(raw.buffer));
      unlinkSync(join(dir, GRAPH_FILE));
      toFormat2(dir);
      const db = new Database(join(dir, 'histoseek.sqlite'));
      db.exec(
        "UPDATE meta SET value = 'histoseek-index/1' WHERE key = 'format'; DELETE FROM meta WHERE key IN ('vectors', 'generation') OR key LIKE 'graph_%'; ALTER TABLE items DROP COLUMN norm;",
      );
      db.close();

      const queries = clustered(20, 4);
      const before = await searchIndex(dir, queries, 20, 'exact');
      assert.throws(
        () => FolderIndex.open(dir, { writable: true }),
        /made by an earlier histoseek \(format 1\); convert it first with 'histoseek index --db .* --upgrade' \(nothing is lost\)/,
      );

      assert.deepEqual(upgradeIndex(dir, 'f16'), { rows: 1500, graphItems: 1500, from: 1, kind: 'f16' });
      assert.equal(existsSync(join(dir, 'raw.f32')), false);
      assert.equal(existsSync(join(dir, 'vectors.f32')), false);
      const store = FolderIndex.open(dir);
      assert.equal(store.vectorKind, 'f16');
      const raw0 = store.rawVectors([0]);
      for (let j = 0; j < DIM; j++) assert.ok(Math.abs(raw0[j] - 2 * data[j]) < 2e-3);
      store.close();
      const after = await searchIndex(dir, queries, 20, 'exact');
      assert.deepEqual(
        after.map((r) => r.map((h) => h.row)),
        before.map((r) => r.map((h) => h.row)),
      );
      assert.throws(() => upgradeIndex(dir, 'f16'), /already in the current format/);
    },
  );
});

describe('indexes made before compact metadata (format 2)', () => {
  test(
    'open for search; a write names --upgrade; the upgrade keeps every item, removal, norm, graph and ranking',
    { timeout: 180_000 },
    async () => {
      const dir = join(await tempDir(), 'db');
      build(dir, 1500);
      let store = FolderIndex.open(dir, { writable: true });
      assert.equal(store.remove({ slide: 'slide-3' }), 100);
      store.close();
      const queries = clustered(20, 4);
      const read = (writable = false) => {
        const s = FolderIndex.open(dir, { writable });
        const all = {
          items: s.allItems(),
          active: s.activeRows(),
          norms: s.norms([0, 1, 750, 1499]),
          slides: s.slideCounts(),
          sources: s.storedSources(),
        };
        s.close();
        return all;
      };
      const before = read();
      assert.equal(before.items.length, 1400);
      assert.deepEqual(before.items[0], {
        row: 0,
        source: '/archive/slide-0.svs#region=0,0,448,448',
        label: 'c0',
        slide: 'slide-0',
        patient: null,
        x: 0,
        y: 0,
        width: 448,
        height: 448,
        collection: null,
      });
      assert.deepEqual(before.items[100], {
        row: 100,
        source: '/archive/slide-1.svs#region=100,0,448,448',
        label: 'c0',
        slide: 'slide-1',
        patient: null,
        x: null,
        y: null,
        width: null,
        height: null,
        collection: null,
      });
      const exact = await searchIndex(dir, queries, 20, 'exact');
      const twoStage = await searchIndex(dir, queries, 20, 'two-stage');

      toFormat2(dir);
      assert.deepEqual(read(), before, 'a format-2 index reads the same');
      assert.deepEqual(await searchIndex(dir, queries, 20, 'exact'), exact);
      assert.throws(
        () => FolderIndex.open(dir, { writable: true }),
        /made by an earlier histoseek \(format 2\); convert it first with 'histoseek index --db .* --upgrade' \(nothing is lost\)/,
      );
      assert.throws(
        () => upgradeIndex(dir, 'i8'),
        /stores f16 vectors; --vectors applies when converting a format-1 index/,
      );

      assert.deepEqual(upgradeIndex(dir), { rows: 1500, graphItems: 0, from: 2, kind: 'f16' });
      assert.deepEqual(read(), before, 'the upgraded index reads the same');
      assert.deepEqual(await searchIndex(dir, queries, 20, 'two-stage'), twoStage, 'the graph is kept');
      assert.throws(() => upgradeIndex(dir), /already in the current format/);

      // It takes writes again: slide-3 indexed anew gets new rows, the removed records are replaced.
      store = FolderIndex.open(dir, { writable: true });
      store.append(items(300, 100), clustered(100, 7), new Float32Array(100).fill(3));
      assert.equal(store.slideRows('slide-3').length, 100);
      assert.equal(store.slideRows('slide-3')[0], 1500);
      assert.equal(store.allItems().length, 1500);
      assert.throws(
        () => store.append(items(0, 1), clustered(1, 8), new Float32Array(1).fill(1)),
        /UNIQUE constraint failed/,
      );
      store.close();
    },
  );
});
