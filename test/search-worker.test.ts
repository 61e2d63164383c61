/**
 * The folder store's searcher on a worker thread (src/store/folder/worker-searcher.ts): the same hits as
 * the in-thread Searcher, the reader's snapshot kept, the event loop free while it searches, the
 * index's errors with their codes, and nothing left running after release().
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FolderStore } from '../src/store/folder/folder-store.js';
import { normaliseRows, rowNorms } from '../src/store/vectors/normalise.js';
import type { ItemSearcher } from '../src/store/item-store.js';
import type { Exclusion, Hit, ItemRecord, ModelIdentity, SearchMode } from '../src/store/types.js';
import { Searcher } from '../src/store/folder/search.js';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import { GRAPH_FILE } from '../src/store/vectors/graph.js';
import { isHistoseekError } from '../src/util/errors.js';
import { Random } from '../src/util/random.js';
import { runScript, temporaryFolder } from './helpers.js';

const DIM = 32;
const ROWS = 3000;
const SLIDES = 10;
const K = 10;
const model: ModelIdentity = { id: 'search-worker test', hash: 'search-worker-test', dim: DIM, inputSize: 64 };

function items(first: number, n: number): ItemRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    source: `/images/${first + i}.png`,
    label: `l${(first + i) % 3}`,
    slide: `s${(first + i) % SLIDES}`,
  }));
}

/** Appends `raw` (n × DIM, normalised here) as items from row `first`. */
function append(dir: string, raw: Float32Array): void {
  const store = FolderIndex.openOrCreate(dir, model);
  try {
    const n = raw.length / DIM;
    store.append(items(store.rows, n), normaliseRows(raw, DIM), rowNorms(raw, DIM));
  } finally {
    store.close();
  }
}

/** An index of ROWS seeded random items (f16, with its graph), one slide's items removed. */
async function buildIndex(prefix: string): Promise<string> {
  const dir = join(await temporaryFolder(prefix), 'db');
  append(dir, new Random(1).fillNormal(new Float32Array(ROWS * DIM)));
  const store = FolderIndex.open(dir, { writable: true });
  try {
    store.remove({ slide: 's9' });
  } finally {
    store.close();
  }
  return dir;
}

/** The in-thread Searcher's hits, as today's folder store answered. */
async function inThread(dir: string, mode: SearchMode, queries: Float32Array, n: number, exclude?: Exclusion) {
  const store = FolderIndex.open(dir);
  const searcher = await Searcher.open(store, { mode });
  try {
    return await searcher.search(queries, n, { k: K, exclude });
  } finally {
    await searcher.release();
    store.close();
  }
}

/** How many times the event loop turned (setImmediate) between now and `work` settling. */
async function ticksDuring(work: Promise<unknown>): Promise<number> {
  let settled = false;
  let ticks = 0;
  const tick = () => {
    if (settled) return;
    ticks++;
    setImmediate(tick);
  };
  setImmediate(tick);
  await work.finally(() => (settled = true));
  return ticks;
}

describe('the folder store searches on a worker thread', { timeout: 600_000 }, () => {
  let dir: string;
  let store: FolderStore;
  /** Five queries: three stored rows (one of a removed slide's), two fresh vectors. */
  const queries = new Float32Array(5 * DIM);

  before(async () => {
    dir = await buildIndex('histoseek-search-worker-');
    store = FolderStore.open(dir);
    const stored = await store.vectors([5, 1234, 19]); // row 19 is on slide s9, removed
    queries.set(stored);
    queries.set(normaliseRows(new Random(2).fillNormal(new Float32Array(2 * DIM)), DIM), 3 * DIM);
  });
  after(() => store.close());

  for (const mode of ['exact', 'two-stage'] as const) {
    test(
      `${mode}: the same rows and distances as the in-thread search, with an exclusion`,
      { timeout: 120_000 },
      async () => {
        const exclude: Exclusion = {
          rows: [await store.slideRows('s5'), await store.slideRows('s4'), [1234]],
          groupOf: [0, 1, 2, 0, 1],
        };
        const searcher = await store.openSearcher({ mode, threads: 1 });
        try {
          assert.equal(searcher.mode, mode);
          for (const exclusion of [undefined, exclude]) {
            const expected = await inThread(dir, mode, queries, 5, exclusion);
            const actual = await searcher.search(queries, 5, { k: K, exclude: exclusion });
            assert.deepEqual(actual, expected);
            assert.ok(actual.every((ranked) => ranked.length === K));
          }
          const excluded = await searcher.search(queries, 5, { k: K, exclude });
          // Row 5 (slide s5) finds itself first without the exclusion, never with it; removed rows never come back.
          assert.equal((await searcher.search(queries.subarray(0, DIM), 1, { k: K }))[0][0].row, 5);
          const removed = new Set(Array.from({ length: ROWS / SLIDES }, (_, i) => 9 + i * SLIDES));
          excluded.forEach((ranked, q) => {
            const banned = new Set(exclude.rows[exclude.groupOf![q]]);
            assert.ok(
              ranked.every((h: Hit) => !banned.has(h.row) && !removed.has(h.row)),
              `query ${q}`,
            );
          });
        } finally {
          await searcher.release();
        }
      },
    );
  }

  test(
    'a searcher answers from the rows live when it was opened; one opened after an append sees them',
    { timeout: 120_000 },
    async () => {
      const copy = await buildIndex('histoseek-search-worker-snapshot-');
      const reader = FolderStore.open(copy);
      const before = await reader.openSearcher({ mode: 'exact' });
      try {
        const query = queries.subarray(3 * DIM, 4 * DIM);
        append(copy, query.slice()); // row ROWS: the query itself
        const later = FolderStore.open(copy);
        const after = await later.openSearcher({ mode: 'exact' });
        try {
          assert.deepEqual((await after.search(query, 1, { k: 1 }))[0][0].row, ROWS);
          const [old] = await before.search(query, 1, { k: K });
          assert.ok(old.every((h) => h.row < ROWS));
          assert.deepEqual(old, (await inThread(dir, 'exact', query, 1))[0]);
        } finally {
          await after.release();
          await later.close();
        }
      } finally {
        await before.release();
        await reader.close();
      }
    },
  );

  test('the event loop keeps turning while a search is under way', { timeout: 120_000 }, async () => {
    const searcher = await store.openSearcher({ mode: 'exact' });
    try {
      assert.ok((await ticksDuring(searcher.search(queries, 5, { k: K }))) > 0);
    } finally {
      await searcher.release();
    }
    // In this thread the same scan (one chunk of rows) holds the loop from start to end.
    const index = FolderIndex.open(dir);
    const local = await Searcher.open(index, { mode: 'exact' });
    try {
      assert.equal(await ticksDuring(local.search(queries, 5, { k: K })), 0);
    } finally {
      await local.release();
      index.close();
    }
  });

  test("a damaged graph's error reaches the caller with its code and message", { timeout: 120_000 }, async () => {
    const damaged = await buildIndex('histoseek-search-worker-damaged-');
    appendFileSync(join(damaged, GRAPH_FILE), Buffer.alloc(16));
    const index = FolderIndex.open(damaged);
    const expected = await Searcher.open(index, { mode: 'two-stage' }).then(
      () => assert.fail('the in-thread searcher opened a damaged graph'),
      (err: unknown) => err,
    );
    index.close();
    assert.ok(isHistoseekError(expected, 'INDEX_DAMAGED'));
    const reader = FolderStore.open(damaged);
    try {
      await assert.rejects(reader.openSearcher({ mode: 'two-stage' }), (err: unknown) => {
        assert.ok(isHistoseekError(err, 'INDEX_DAMAGED'), String(err));
        assert.equal(err.message, expected.message);
        return true;
      });
      // A search's own error comes back too.
      const searcher = await reader.openSearcher({ mode: 'exact' });
      try {
        await assert.rejects(searcher.search(new Float32Array(DIM + 1), 1, { k: K }), /need 32 values/);
        await assert.rejects(searcher.search(queries, 5, { k: K, exclude: { rows: [[]], groupOf: [0, 1] } }), (err) =>
          isHistoseekError(err, 'BAD_QUERY'),
        );
      } finally {
        await searcher.release();
      }
    } finally {
      await reader.close();
    }
  });

  test(
    'release() ends the worker: later searches are refused, and the process exits on its own',
    { timeout: 120_000 },
    async () => {
      const searcher: ItemSearcher = await store.openSearcher({ mode: 'exact' });
      const pending = searcher.search(queries, 5, { k: K });
      await searcher.release(); // waits for the search under way
      assert.equal((await pending).length, 5);
      await assert.rejects(searcher.search(queries, 1, { k: K }), (err) => isHistoseekError(err, 'CLOSED'));

      // In a process of its own: threads (the worker and its onnxruntime threads) come and go with the searcher.
      const child = runScript(`
      import { readdirSync } from 'node:fs';
      import { FolderStore } from './src/store/folder/folder-store.ts';
      const threads = () => readdirSync('/proc/self/task').length;
      const store = FolderStore.open(${JSON.stringify(dir)});
      const searcher = await store.openSearcher({ mode: 'exact' });
      const open = threads();
      const [hits] = await searcher.search(await store.vectors([7]), 1, { k: 1 });
      await searcher.release();
      await store.close();
      console.log(JSON.stringify({ row: hits[0].row, open, released: threads() }));
    `);
      assert.equal(child.status, 0, child.stderr);
      const { row, open, released } = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
      assert.equal(row, 7);
      assert.ok(released < open, `threads: ${open} with the searcher open, ${released} after release()`);
    },
  );
});
