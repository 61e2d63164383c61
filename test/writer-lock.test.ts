/**
 * One writer per index folder. In one process: a second FolderIndex writer is refused with
 * INDEX_LOCKED however the folder is spelt, and from another thread; another process's lock is
 * refused, a dead one's taken over. Through the library: two overlapping add()s, and an add()
 * beside a remove(), end as if run one after the other, or the second is refused with INDEX_LOCKED
 * — never with one item's row holding another's vector.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { loadModel, openIndex } from '../src/api/library.js';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import { normaliseRows } from '../src/store/vectors/normalise.js';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import type { ModelIdentity } from '../src/store/types.js';
import { isHistoseekError } from '../src/util/errors.js';
import { temporaryFolder } from './helpers.js';

const dir = await temporaryFolder('histoseek-writer-lock-');
const IDENTITY: ModelIdentity = { id: 'test model', hash: 'h1', dim: 8, inputSize: 16 };
/** The writer's lock file, as every histoseek version names it. */
const LOCK_FILE = 'index.lock';
const LOCKED_HERE = /being written by this process \(another writer is open\)/;

/** Asserts that `open` is refused with INDEX_LOCKED and a message matching `message`. */
function assertLocked(open: () => unknown, message: RegExp): void {
  assert.throws(open, (err: unknown) => {
    assert.ok(isHistoseekError(err, 'INDEX_LOCKED'), `expected INDEX_LOCKED, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

/** A vector of `IDENTITY.dim` values, one per item, for a store without a model. */
function unitRows(n: number): Float32Array {
  const rows = new Float32Array(n * IDENTITY.dim);
  for (let i = 0; i < n; i++) rows[i * IDENTITY.dim + (i % IDENTITY.dim)] = 1;
  return rows;
}

describe('FolderIndex writers in one process', () => {
  test('a second writer is refused until the first closes; readers are not', { timeout: 30_000 }, async () => {
    const db = join(await temporaryFolder('histoseek-lock-a-'), 'db');
    const first = FolderIndex.openOrCreate(db, IDENTITY);
    try {
      assertLocked(() => FolderIndex.openOrCreate(db, IDENTITY), LOCKED_HERE);
      assertLocked(() => FolderIndex.open(db, { writable: true }), LOCKED_HERE);
      first.append([{ source: '/a.png', label: 'a' }], unitRows(1), Float32Array.of(2));
      const reader = FolderIndex.open(db);
      assert.equal(reader.rows, 1);
      reader.close();
    } finally {
      first.close();
    }
    assert.equal(existsSync(join(db, LOCK_FILE)), false);
    const next = FolderIndex.open(db, { writable: true });
    next.append([{ source: '/b.png', label: 'b' }], unitRows(2).subarray(IDENTITY.dim), Float32Array.of(3));
    next.close();
    const reader = FolderIndex.open(db);
    assert.deepEqual(
      reader.allItems().map((item) => [item.row, item.source]),
      [
        [0, '/a.png'],
        [1, '/b.png'],
      ],
    );
    reader.close();
  });

  test('a failed open gives the lock back', { timeout: 30_000 }, async () => {
    const db = join(await temporaryFolder('histoseek-lock-b-'), 'db');
    FolderIndex.openOrCreate(db, IDENTITY).close();
    assert.throws(
      () => FolderIndex.openOrCreate(db, { ...IDENTITY, hash: 'another' }),
      (err: unknown) => isHistoseekError(err, 'WRONG_MODEL'),
    );
    assert.equal(existsSync(join(db, LOCK_FILE)), false);
    FolderIndex.openOrCreate(db, IDENTITY).close();
  });

  test('two spellings of one folder collide: a symlink, and a path through sub/..', { timeout: 30_000 }, async () => {
    const parent = await temporaryFolder('histoseek-lock-c-');
    const db = join(parent, 'db');
    const writer = FolderIndex.openOrCreate(db, IDENTITY);
    try {
      symlinkSync(db, join(parent, 'link'));
      mkdirSync(join(db, 'sub'));
      assertLocked(() => FolderIndex.open(join(parent, 'link'), { writable: true }), LOCKED_HERE);
      assertLocked(() => FolderIndex.openOrCreate(`${db}/sub/..`, IDENTITY), LOCKED_HERE);
      assertLocked(() => FolderIndex.openOrCreate(`${db}/`, IDENTITY), LOCKED_HERE);
    } finally {
      writer.close();
    }
    FolderIndex.open(join(parent, 'link'), { writable: true }).close();
  });

  test('a writer in another thread of this process holds the folder', { timeout: 60_000 }, async () => {
    const db = join(await temporaryFolder('histoseek-lock-d-'), 'db');
    FolderIndex.openOrCreate(db, IDENTITY).close();
    // An ES module worker; the test's TypeScript loader (tsx) does not reach a worker by itself.
    const source = `import { parentPort, workerData } from 'node:worker_threads';
const { tsImport } = await import(workerData.tsx);
const { FolderIndex } = await tsImport(workerData.store, workerData.parent);
const store = FolderIndex.open(workerData.db, { writable: true });
parentPort.postMessage('open');
parentPort.once('message', () => { store.close(); parentPort.postMessage('closed'); });`;
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), {
      workerData: {
        db,
        store: new URL('../src/store/folder/folder-index.ts', import.meta.url).href,
        tsx: import.meta.resolve('tsx/esm/api'),
        parent: import.meta.url,
      },
    });
    const kill = setTimeout(() => void worker.terminate(), 50_000);
    const next = () =>
      new Promise<unknown>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`the worker exited (${code})`)));
      });
    try {
      assert.equal(await next(), 'open');
      assertLocked(() => FolderIndex.open(db, { writable: true }), LOCKED_HERE);
      worker.postMessage('close');
      assert.equal(await next(), 'closed');
      FolderIndex.open(db, { writable: true }).close();
    } finally {
      clearTimeout(kill);
      await worker.terminate();
    }
  });
});

describe('the lock file across processes', () => {
  test("another live process's lock is refused; a dead one's is taken over", { timeout: 30_000 }, async () => {
    const db = join(await temporaryFolder('histoseek-lock-e-'), 'db');
    FolderIndex.openOrCreate(db, IDENTITY).close();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 25000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      writeFileSync(join(db, LOCK_FILE), String(child.pid));
      assertLocked(
        () => FolderIndex.open(db, { writable: true }),
        new RegExp(`being written by PID ${child.pid} \\(another histoseek process\\); wait for it to finish`),
      );
    } finally {
      child.kill();
      await exited;
    }
    FolderIndex.open(db, { writable: true }).close();
    // A process that has ended.
    const ended = spawnSync(process.execPath, ['-e', ''], { timeout: 20_000 });
    writeFileSync(join(db, LOCK_FILE), String(ended.pid));
    FolderIndex.open(db, { writable: true }).close();
    assert.equal(existsSync(join(db, LOCK_FILE)), false);
  });

  test(
    "this pid's lock from before this process started (a restarted container's) is taken over",
    { timeout: 30_000 },
    async () => {
      const db = join(await temporaryFolder('histoseek-lock-f-'), 'db');
      FolderIndex.openOrCreate(db, IDENTITY).close();
      writeFileSync(join(db, LOCK_FILE), String(process.pid));
      const longAgo = new Date(Date.now() - process.uptime() * 1000 - 3_600_000);
      utimesSync(join(db, LOCK_FILE), longAgo, longAgo);
      FolderIndex.open(db, { writable: true }).close();
      assert.equal(existsSync(join(db, LOCK_FILE)), false);
    },
  );
});

describe('the library: writes to one index object from one process', () => {
  const root = join(dir, 'library');
  const collections = ['base', 'b', 'c', 'd'].map((name) => join(root, name));
  let model: Awaited<ReturnType<typeof loadModel>>;
  before(
    async () => {
      for (const [i, folder] of collections.entries())
        await writeKimiaCollection(folder, {
          seed: 40 + i,
          slides: 2,
          slideSize: 384,
          patchSize: 64,
          trainPerSlide: 4,
          testPerSlide: 1,
        });
      model = await loadModel();
    },
    { timeout: 120_000 },
  );
  after(() => model?.close());

  /** The training patches of a collection: what add(…, { layout: 'kimia' }) indexes. */
  function patchesOf(collection: string): string[] {
    return readdirSync(join(collection, 'train'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.png'))
      .map((f) => join(collection, 'train', f));
  }

  /** An empty index for the model, opened through the library; `close` closes it once. */
  async function emptyIndex(name: string) {
    const db = join(root, name);
    FolderIndex.openOrCreate(db, model.identity).close();
    const index = await openIndex(db);
    let closing: Promise<void> | undefined;
    return { db, index, close: () => (closing ??= index.close()) };
  }

  /** Each settled write either did its work or was refused as busy; anything else fails the test. */
  function succeeded(outcome: PromiseSettledResult<unknown>): boolean {
    if (outcome.status === 'fulfilled') return true;
    assert.ok(
      isHistoseekError(outcome.reason, 'INDEX_LOCKED'),
      `a write failed other than as busy: ${outcome.reason instanceof Error ? outcome.reason.stack : String(outcome.reason)}`,
    );
    return false;
  }

  /**
   * The index holds exactly `expected` live items, each row's stored vector that of its own image
   * (cosine with a fresh embedding above 0.9999), the rows SQLite records match the vector files,
   * no item is stored twice, and the search graph holds the live rows and no removed one.
   */
  async function assertIntact(db: string, expected: string[]): Promise<void> {
    const store = FolderIndex.open(db);
    try {
      const live = store.allItems();
      assert.deepEqual(live.map((item) => item.source).sort(), [...expected].sort());
      const stored = store.vectors(live.map((item) => item.row));
      const dim = store.model.dim;
      const fresh = normaliseRows(await model.embed(live.map((item) => item.source)), dim);
      live.forEach((item, i) => {
        let cosine = 0;
        for (let j = 0; j < dim; j++) cosine += stored[i * dim + j] * fresh[i * dim + j];
        assert.ok(cosine > 0.9999, `row ${item.row} (${item.source}): cosine ${cosine} with its own image`);
      });
      assert.equal(store.column.rows(), store.rows, 'rows in the vector files and in SQLite');
      const active = store.activeRows();
      const graph = store.openGraph();
      assert.ok(graph, 'a search graph');
      active.forEach((isLive, row) => assert.equal(graph.contains(row), isLive === 1, `graph and row ${row}`));
    } finally {
      store.close();
    }
    const sqlite = new Database(join(db, 'histoseek.sqlite'), { readonly: true });
    try {
      const counts = sqlite.prepare('SELECT count(*) AS n, max(row) AS last FROM patches').get() as {
        n: number;
        last: number;
      };
      const rows = Number(sqlite.prepare("SELECT value FROM meta WHERE key = 'rows'").pluck().get());
      assert.equal(counts.n, rows);
      assert.equal(counts.last, rows - 1);
      assert.deepEqual(
        sqlite.prepare('SELECT source, count(*) AS n FROM items WHERE removed = 0 GROUP BY source HAVING n > 1').all(),
        [],
      );
    } finally {
      sqlite.close();
    }
  }

  test('two overlapping add() calls: both added, or the second refused as busy', { timeout: 180_000 }, async (t) => {
    const [base, b, c] = collections;
    const { db, index, close } = await emptyIndex('two-adds');
    try {
      await index.add(base, { layout: 'kimia', batch: 2 });
      const outcomes = await Promise.allSettled([
        index.add(b, { layout: 'kimia', batch: 2 }),
        index.add(c, { layout: 'kimia', batch: 2 }),
      ]);
      const added = [b, c].filter((_, i) => succeeded(outcomes[i]));
      t.diagnostic(added.length === 2 ? 'both add() calls completed' : 'the second add() was refused as busy');
      assert.ok(added.length >= 1, 'at least the first add() completes');
      await close();
      await assertIntact(db, [base, ...added].flatMap(patchesOf));
    } finally {
      await close();
    }
  });

  test('an add() beside a remove(): both done, or the remove() refused as busy', { timeout: 180_000 }, async (t) => {
    const [base, , , d] = collections;
    const { db, index, close } = await emptyIndex('add-remove');
    try {
      await index.add(base, { layout: 'kimia', batch: 2 });
      const adding = index.add(d, { layout: 'kimia', batch: 2 });
      // The remove() starts once the add() has committed its first batch (its writer is open and has
      // loaded the search graph), while it still has batches to go.
      let addDone = false;
      void adding.finally(() => (addDone = true)).catch(() => undefined);
      const sqlite = new Database(join(db, 'histoseek.sqlite'), { readonly: true });
      const committed = () => Number(sqlite.prepare("SELECT value FROM meta WHERE key = 'rows'").pluck().get());
      const before = committed();
      try {
        for (let waited = 0; committed() === before && !addDone && waited < 60_000; waited += 5)
          await new Promise((resolve) => setTimeout(resolve, 5));
      } finally {
        sqlite.close();
      }
      assert.equal(addDone, false, 'the add() was still running when the remove() began');
      const removing = index.remove({ folder: base });
      const [added, removed] = await Promise.allSettled([adding, removing]);
      assert.ok(succeeded(added), 'the add() began first and completes');
      const wasRemoved = succeeded(removed);
      t.diagnostic(wasRemoved ? 'the remove() completed' : 'the remove() was refused as busy');
      if (removed.status === 'fulfilled') assert.equal(removed.value, patchesOf(base).length);
      await close();
      await assertIntact(db, [...(wasRemoved ? [] : patchesOf(base)), ...patchesOf(d)]);
    } finally {
      await close();
    }
  });
});
