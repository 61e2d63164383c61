/**
 * A query or image of no kind the library takes (raw pixels under another field name, pixels that
 * are no Uint8Array) is refused with an error naming it and saying what it may be: BAD_QUERY for a
 * search, BAD_IMAGE for model.embed, never an error from deep inside the reader.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { HistoseekError, loadModel, openIndex } from '../src/index.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each test here, ms (node:test `timeout`). */
const TIMEOUT = 120_000;

const QUERY_FORMS =
  "a query is an image file's path, encoded image bytes (Buffer or Uint8Array), raw pixels { pixels: Uint8Array, width, height } or a Float32Array descriptor";

/** Asserts `promise` rejects with a HistoseekError of `code` and exactly `message`. */
async function rejectsWith(promise: Promise<unknown>, code: string, message: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HistoseekError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

test(
  'raw pixels under a wrong field name, or pixels in an array, are a BAD_QUERY saying what a query is',
  { timeout: TIMEOUT },
  async (t) => {
    const db = join(await temporaryFolder('histoseek-queries-', t), 'db');
    await using index = await openIndex(db, { create: true, threads: 1 });
    const size = index.model.inputSize;
    const data = new Uint8Array(size * size * 3).fill(128);
    await rejectsWith(
      index.search({ data, width: size, height: size } as never, { k: 1 }),
      'BAD_QUERY',
      `the query: ${QUERY_FORMS}; got an object { data, width, height }`,
    );
    await rejectsWith(
      index.searchBatch(
        [
          { pixels: data, width: size, height: size },
          { pixels: [...data], width: size, height: size },
        ] as never,
        {
          k: 1,
        },
      ),
      'BAD_QUERY',
      `query 1 of the batch: ${QUERY_FORMS}; got an object whose pixels are an array, not a Uint8Array`,
    );
    await rejectsWith(
      index.search(new Float64Array(index.model.dim) as never, { k: 1 }),
      'BAD_QUERY',
      `the query: ${QUERY_FORMS}; got a Float64Array`,
    );
  },
);

test(
  'model.embed of raw pixels under a wrong field name is a BAD_IMAGE saying what an image is',
  { timeout: TIMEOUT },
  async () => {
    await using model = await loadModel(undefined, { threads: 1 });
    const size = model.inputSize;
    await rejectsWith(
      model.embed([{ data: new Uint8Array(size * size * 3), width: size, height: size } as never]),
      'BAD_IMAGE',
      "image 0: expected an image file's path, encoded image bytes (Buffer or Uint8Array) or raw pixels { pixels: Uint8Array, width, height }; got an object { data, width, height }",
    );
  },
);
