/**
 * The library prints nothing: the model cache's notes (a cache folder that cannot be written, a
 * cached model that cannot be loaded) reach the caller's logger, at warn and info, and without a
 * logger they go nowhere, never to stderr.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel, type Logger } from '../src/api/library.js';
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

/** Loads the built-in model with the cache in `cacheDir` and embeds one image; returns what reached stderr meanwhile. */
async function loadAndEmbed(cacheDir: string, logger?: Logger): Promise<string> {
  const previous = process.env.HISTOSEEK_CACHE_DIR;
  process.env.HISTOSEEK_CACHE_DIR = cacheDir;
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    await using model = await loadModel(undefined, { threads: 1, logger });
    const size = model.inputSize;
    const descriptors = await model.embed([
      { pixels: new Uint8Array(size * size * 3).fill(128), width: size, height: size },
    ]);
    assert.equal(descriptors.length, model.dim);
  } finally {
    process.stderr.write = write;
    if (previous === undefined) delete process.env.HISTOSEEK_CACHE_DIR;
    else process.env.HISTOSEEK_CACHE_DIR = previous;
  }
  return stderr;
}

test(
  'a cache folder that cannot be written is a warning to the logger, and nothing on stderr',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-logger-', t);
    // A file where the cache folder should be: mkdir fails (ENOTDIR), as root too.
    const blocked = join(dir, 'not-a-folder');
    writeFileSync(blocked, '');
    const logger = recordingLogger();
    assert.equal(await loadAndEmbed(blocked, logger), '');
    assert.equal(logger.heard.length, 1, JSON.stringify(logger.heard));
    assert.equal(logger.heard[0].level, 'warn');
    assert.match(
      logger.heard[0].message,
      /^histoseek: note: the model cache .*not-a-folder\/onnx cannot be written \(ENOTDIR\); running without it$/,
    );

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
