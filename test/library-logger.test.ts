/**
 * The library prints nothing: the model cache's notes (a cache folder that cannot be written, a
 * cached model that cannot be loaded) reach the caller's logger, at warn and info, and without a
 * logger they go nowhere, never to stderr. That holds for the exact search's graph too, which is
 * loaded on the search worker thread.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { loadModel, type Logger, openIndex } from '../src/api/library.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each test here, ms (node:test `timeout`). */
const TIMEOUT = 120_000;

/** What a logger heard, by level. */
function recordingLogger(): Logger & { heard: { level: string; message: string }[] } {
  const heard: { level: string; message: string }[] = [];
  return {
    heard,
    info: (message) => void heard.push({ level: 'info', message }),
    warn: (message) => void heard.push({ level: 'warn', message }),
  };
}

/** Runs `work` with the model cache in `cacheDir`; returns what reached stderr meanwhile. */
async function withCache(cacheDir: string, work: () => Promise<void>): Promise<string> {
  const previous = process.env.HISTOSEEK_CACHE_DIR;
  process.env.HISTOSEEK_CACHE_DIR = cacheDir;
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    await work();
  } finally {
    process.stderr.write = write;
    if (previous === undefined) delete process.env.HISTOSEEK_CACHE_DIR;
    else process.env.HISTOSEEK_CACHE_DIR = previous;
  }
  return stderr;
}

/** Grey raw pixels of `size` × `size`. */
const grey = (size: number, value = 128) => ({
  pixels: new Uint8Array(size * size * 3).fill(value),
  width: size,
  height: size,
});

/** Loads the built-in model with the cache in `cacheDir` and embeds one image; returns what reached stderr meanwhile. */
function loadAndEmbed(cacheDir: string, logger?: Logger): Promise<string> {
  return withCache(cacheDir, async () => {
    await using model = await loadModel(undefined, { threads: 1, logger });
    const descriptors = await model.embed([grey(model.inputSize)]);
    assert.equal(descriptors.length, model.dim);
  });
}

/** A file where the cache folder should be: mkdir fails (ENOTDIR), as root too. */
async function blockedCache(t: TestContext): Promise<string> {
  const blocked = join(await temporaryFolder('histoseek-logger-', t), 'not-a-folder');
  writeFileSync(blocked, '');
  return blocked;
}

const UNWRITABLE =
  /^histoseek: note: the model cache .*not-a-folder\/onnx cannot be written \(ENOTDIR\); running without it$/;

test(
  'a cache folder that cannot be written is a warning to the logger, and nothing on stderr',
  { timeout: TIMEOUT },
  async (t) => {
    const blocked = await blockedCache(t);
    const logger = recordingLogger();
    assert.equal(await loadAndEmbed(blocked, logger), '');
    assert.equal(logger.heard.length, 1, JSON.stringify(logger.heard));
    assert.equal(logger.heard[0].level, 'warn');
    assert.match(logger.heard[0].message, UNWRITABLE);

    assert.equal(await loadAndEmbed(blocked), '', 'without a logger the note goes nowhere');
  },
);

test(
  'a cached model that cannot be loaded is rebuilt with an info note to the logger, and nothing on stderr',
  { timeout: TIMEOUT },
  async (t) => {
    const cache = await temporaryFolder('histoseek-logger-cache-', t);
    const first = recordingLogger();
    assert.equal(await loadAndEmbed(cache, first), '');
    assert.deepEqual(first.heard, [], 'a fresh cache is written without a note');
    const onnx = join(cache, 'onnx');
    const cached = readdirSync(onnx).filter((f) => f.endsWith('.onnx'));
    assert.equal(cached.length, 1, cached.join(', '));
    writeFileSync(join(onnx, cached[0]), 'not an onnx model');

    const logger = recordingLogger();
    assert.equal(await loadAndEmbed(cache, logger), '');
    assert.equal(logger.heard.length, 1, JSON.stringify(logger.heard));
    assert.equal(logger.heard[0].level, 'info');
    assert.match(
      logger.heard[0].message,
      new RegExp(
        `^histoseek: note: .*${cached[0].replace(/\./g, '\\.')}: the cached model cannot be loaded \\(.*\\); rebuilding it$`,
      ),
    );
  },
);

test(
  "an index's exact search, loaded on its worker thread, warns the logger of an unwritable cache, and nothing reaches stderr",
  { timeout: TIMEOUT },
  async (t) => {
    const db = join(await temporaryFolder('histoseek-logger-index-', t), 'db');
    const cache = await temporaryFolder('histoseek-logger-cache-', t);
    let query: Float32Array | undefined;
    await withCache(cache, async () => {
      await using index = await openIndex(db, { create: true, mode: 'exact', threads: 1 });
      const report = await index.add([
        { image: grey(96, 60), path: 'dark' },
        { image: grey(96, 200), path: 'light' },
      ]);
      assert.equal(report.added, 2);
      query = (await index.vector(1))!;
    });

    const blocked = await blockedCache(t);
    const search = (logger?: Logger) =>
      withCache(blocked, async () => {
        await using index = await openIndex(db, { mode: 'exact', threads: 1, logger });
        assert.equal((await index.info()).search, 'exact');
        const [top] = await index.search(query!, { k: 1 });
        assert.equal(top.path, 'light');
      });
    const logger = recordingLogger();
    assert.equal(await search(logger), '');
    // One warning from the model's session (this thread), one from the exact search's (the worker's).
    assert.deepEqual(
      logger.heard.map((h) => h.level),
      ['warn', 'warn'],
      JSON.stringify(logger.heard),
    );
    for (const { message } of logger.heard) assert.match(message, UNWRITABLE);

    assert.equal(await search(), '', 'without a logger the notes go nowhere');
  },
);
