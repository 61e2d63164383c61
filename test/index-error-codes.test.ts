/**
 * The folder index's typed errors: each code provoked on a small real index (a few rows of unit
 * vectors, its search graph saved), with the message naming the file or folder and, where there
 * is one, the fix — the text the command line prints.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import type { ModelIdentity } from '../src/store/types.js';
import { upgradeIndex } from '../src/store/folder/upgrade.js';
import { type ErrorCode, isHistoseekError } from '../src/util/errors.js';
import { temporaryFolder } from './helpers.js';

const DIM = 8;
const ROWS = 6;
const MODEL: ModelIdentity = {
  id: 'test model',
  hash: 'aaaaaaaaaaaaaaaa',
  weightsPath: '/models/test.safetensors',
  dim: DIM,
  inputSize: 16,
};

/** A new index of ROWS items (row i: the unit vector along axis i mod DIM) with its graph saved. */
async function smallIndex(): Promise<string> {
  const db = join(await temporaryFolder('histoseek-codes-'), 'db');
  const store = FolderIndex.openOrCreate(db, MODEL);
  try {
    const vectors = new Float32Array(ROWS * DIM);
    for (let i = 0; i < ROWS; i++) vectors[i * DIM + (i % DIM)] = 1;
    store.append(
      Array.from({ length: ROWS }, (_, i) => ({ source: `/patches/${i}.png`, label: `c${i % 2}` })),
      vectors,
      new Float32Array(ROWS).fill(3),
    );
  } finally {
    store.close();
  }
  return db;
}

/** Asserts that `run` throws a HistoseekError of `code` whose message matches each of `message`. */
function throwsCode(run: () => unknown, code: ErrorCode, ...message: RegExp[]): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(isHistoseekError(err, code), `expected ${code}, got ${err instanceof Error ? err.stack : String(err)}`);
    for (const m of message) assert.match(err.message, m);
    return true;
  });
}

const quoted = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('NOT_FOUND: no index at the path, to read, write or upgrade', { timeout: 30_000 }, async () => {
  const empty = await temporaryFolder('histoseek-codes-empty-');
  const missing = join(empty, 'nothing here');
  for (const path of [empty, missing]) {
    const named = new RegExp(`^${quoted(path)}: not a histoseek index \\(no histoseek\\.sqlite\\)$`);
    throwsCode(() => FolderIndex.open(path), 'NOT_FOUND', named);
    throwsCode(() => FolderIndex.open(path, { writable: true }), 'NOT_FOUND', named);
    throwsCode(() => upgradeIndex(path), 'NOT_FOUND', named);
  }
});

test('INDEX_LOCKED: a second writer, and an upgrade while a writer is open', { timeout: 30_000 }, async () => {
  const db = await smallIndex();
  const writer = FolderIndex.open(db, { writable: true });
  try {
    const message = [
      new RegExp(`^${quoted(db)}: the index is being written by this process \\(another writer is open\\)`),
      /close that writer first, or wait for it to finish/,
    ];
    throwsCode(() => FolderIndex.openOrCreate(db, MODEL), 'INDEX_LOCKED', ...message);
    throwsCode(() => upgradeIndex(db), 'INDEX_LOCKED', ...message);
  } finally {
    writer.close();
  }
});

test('WRONG_MODEL: another model, named with the option that picks the right one', { timeout: 30_000 }, async () => {
  const db = await smallIndex();
  const other = { ...MODEL, id: 'other model', hash: 'bbbbbbbbbbbbbbbb' };
  const message = [
    new RegExp(
      `^${quoted(db)}: this index was built with model 'test model' \\(hash aaaaaaaaaaaa\\), not 'other model'`,
    ),
    /; pass --weights \/models\/test\.safetensors$/,
  ];
  throwsCode(() => FolderIndex.openOrCreate(db, other), 'WRONG_MODEL', ...message);
  const reader = FolderIndex.open(db);
  try {
    throwsCode(() => reader.assertModel(other), 'WRONG_MODEL', ...message);
  } finally {
    reader.close();
  }
});

test('INDEX_OUTDATED: writing to an index of an earlier format names --upgrade', { timeout: 30_000 }, async () => {
  const db = await smallIndex();
  // Only the format is rewritten: it is what the open checks (archive-store.test.ts upgrades real format-1 and -2 indexes).
  const sqlite = new Database(join(db, 'histoseek.sqlite'));
  sqlite.prepare("UPDATE meta SET value = 'histoseek-index/2' WHERE key = 'format'").run();
  sqlite.close();
  throwsCode(
    () => FolderIndex.open(db, { writable: true }),
    'INDEX_OUTDATED',
    new RegExp(`^${quoted(db)}: this index was made by an earlier histoseek \\(format 2\\)`),
    new RegExp(`convert it first with 'histoseek index --db ${quoted(db)} --upgrade' \\(nothing is lost\\)$`),
  );
  // Reading it needs no upgrade.
  FolderIndex.open(db).close();
});

test('INDEX_DAMAGED: vector files missing or cut short', { timeout: 30_000 }, async () => {
  const db = await smallIndex();
  const vectors = join(db, 'vectors.f16');
  // Cut short under an open reader: the read names the file.
  const reader = FolderIndex.open(db);
  try {
    truncateSync(vectors, (ROWS - 1) * DIM * 2);
    throwsCode(
      () => reader.vectors([ROWS - 1]),
      'INDEX_DAMAGED',
      new RegExp(`^${quoted(vectors)}: ends before byte ${ROWS * DIM * 2}; the index is damaged$`),
    );
  } finally {
    reader.close();
  }
  // Cut short before the open: the rows the database records are not all there.
  throwsCode(
    () => FolderIndex.open(db),
    'INDEX_DAMAGED',
    new RegExp(`^${quoted(vectors)}: holds ${ROWS - 1} rows but the database records ${ROWS}; the index is damaged$`),
  );
  rmSync(vectors);
  throwsCode(
    () => FolderIndex.open(db),
    'INDEX_DAMAGED',
    new RegExp(`^${quoted(db)}: the index is damaged \\(vectors\\.f16 is missing\\)$`),
  );
});

test(
  'INDEX_DAMAGED: the search graph missing or of the wrong size, when a search needs it',
  { timeout: 30_000 },
  async () => {
    const db = await smallIndex();
    const graph = join(db, 'graph.usearch');
    const fix = new RegExp(`rebuild it with 'histoseek index --db ${quoted(db)} --rebuild-graph'`);
    const reader = FolderIndex.open(db);
    try {
      assert.ok(reader.openGraph(), 'the saved graph opens');
      appendFileSync(graph, Buffer.alloc(10));
      throwsCode(
        () => reader.openGraph(),
        'INDEX_DAMAGED',
        new RegExp(`^${quoted(graph)}: the search graph is damaged \\(\\d+ bytes, \\d+ expected\\)`),
        fix,
      );
      rmSync(graph);
      throwsCode(
        () => reader.openGraph(),
        'INDEX_DAMAGED',
        new RegExp(`^${quoted(graph)}: the search graph is missing`),
        fix,
      );
    } finally {
      reader.close();
    }
    // A writer that changes the index needs the graph too.
    const writer = FolderIndex.open(db, { writable: true });
    try {
      throwsCode(() => writer.remove({ under: '/patches/0.png' }), 'INDEX_DAMAGED', fix);
    } finally {
      writer.close();
    }
  },
);

test('INDEX_DAMAGED: a histoseek.sqlite that is not a database, or not an index', { timeout: 30_000 }, async () => {
  const db = await smallIndex();
  const file = join(db, 'histoseek.sqlite');
  const sqlite = new Database(file);
  sqlite.prepare("DELETE FROM meta WHERE key = 'format'").run();
  sqlite.close();
  throwsCode(
    () => FolderIndex.open(db),
    'INDEX_DAMAGED',
    new RegExp(`^${quoted(file)}: not a histoseek index \\(format 'none'\\)$`),
  );
  writeFileSync(file, 'garbage garbage garbage, not SQLite at all');
  for (const writable of [false, true])
    throwsCode(
      () => FolderIndex.open(db, { writable }),
      'INDEX_DAMAGED',
      new RegExp(`^${quoted(file)}: cannot be read as a histoseek index \\(.*\\); nothing was changed$`),
    );
  assert.equal(existsSync(join(db, 'index.lock')), false, 'the failed writable open gave the lock back');
});

test('BAD_OPTION: another stored precision for an existing index', { timeout: 30_000 }, async () => {
  const db = await smallIndex();
  throwsCode(
    () => FolderIndex.openOrCreate(db, MODEL, { vectors: 'f32' }),
    'BAD_OPTION',
    new RegExp(`^${quoted(db)}: this index stores f16 vectors; --vectors f32 applies when an index is created`),
  );
});
