/**
 * A source that cannot be read at all now (a PACS gone, credentials refused) stops a run over many
 * items, keeping what was committed; one unreadable image is recorded and the run goes on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch } from '../src/engine/embed-images.js';
import { HistoseekError, isHistoseekError, stopsTheRun } from '../src/util/errors.js';

const SIZE = 8;
const pixels = { pixels: new Uint8Array(SIZE * SIZE * 3).fill(200), width: SIZE, height: SIZE };

test(
  'decodeBatch records a bad image as a failure and stops on a source that is unavailable',
  { timeout: 30_000 },
  async () => {
    const bad = await decodeBatch(['a', 'b'], SIZE, async (source) => {
      if (source === 'b') throw new Error('not an image');
      return pixels;
    });
    assert.deepEqual(bad.paths, ['a']);
    assert.deepEqual(
      bad.failures.map((f) => f.path),
      ['b'],
    );
    await assert.rejects(
      decodeBatch(['a', 'b'], SIZE, async (source) => {
        if (source === 'b')
          throw new HistoseekError('UNAVAILABLE', 'GET http://pacs/frames/1: ECONNREFUSED (after 6 tries)');
        return pixels;
      }),
      (e: Error) => isHistoseekError(e, 'UNAVAILABLE') && /after 6 tries/.test(e.message),
    );
  },
);

test('the codes that stop a run: UNAVAILABLE, BAD_OPTION (refused credentials), ABORTED', () => {
  assert.deepEqual(
    (['UNAVAILABLE', 'BAD_OPTION', 'ABORTED', 'BAD_IMAGE', 'NOT_FOUND'] as const).map((code) =>
      stopsTheRun(new HistoseekError(code, 'x')),
    ),
    [true, true, true, false, false],
  );
  assert.equal(stopsTheRun(new Error('plain')), false);
});
