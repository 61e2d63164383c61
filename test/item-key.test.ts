/** The item key's string form round-trips, and is exactly what stored indexes hold. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatItemKey, parseItemKey, type ItemKey } from '../src/collections/item-key.js';

test('each kind of key round-trips through its string form', () => {
  const keys: [ItemKey, string][] = [
    [{ kind: 'file', path: '/data/a.png' }, '/data/a.png'],
    [
      { kind: 'region', path: '/data/s.svs', box: { x: -4, y: 8, width: 448, height: 448 } },
      '/data/s.svs#region=-4,8,448,448',
    ],
    [
      { kind: 'region', path: '/d/dicom#series=1.2.3', box: { x: 0, y: 0, width: 1, height: 1 } },
      '/d/dicom#series=1.2.3#region=0,0,1,1',
    ],
    [{ kind: 'array-row', path: '/data/images.npy', row: 12 }, '/data/images.npy#12'],
  ];
  for (const [key, text] of keys) {
    assert.equal(formatItemKey(key), text);
    assert.deepEqual(parseItemKey(text), key);
  }
  // `#<digits>` after anything but a .npy is part of a file's name.
  assert.deepEqual(parseItemKey('/data/a.png#3'), { kind: 'file', path: '/data/a.png#3' });
});

test('an empty key and a mistyped box are errors that name the text', () => {
  assert.throws(() => parseItemKey(''), /empty/);
  assert.throws(() => parseItemKey('/data/s.svs#region=1,2'), {
    code: 'BAD_IMAGE',
    message: /^\/data\/s\.svs#region=1,2: /,
  });
});
