import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { ItemLoader } from '../src/collections/load.js';
import { readCollection } from '../src/collections/read.js';
import { NpyFile } from '../src/data/npy.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

async function png(path: string, rgb: [number, number, number], side = 32): Promise<void> {
  await sharp({ create: { width: side, height: side, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toFile(path);
}

/** A .npy file (format 1.0) holding `bytes` under a header for `descr` and `shape`. */
async function writeNpy(path: string, descr: string, shape: number[], bytes: Uint8Array): Promise<void> {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  await writeFile(path, Buffer.concat([prefix, Buffer.from(header, 'latin1'), bytes]));
}

function utf32(strings: string[], width: number): Uint8Array {
  const out = Buffer.alloc(strings.length * width * 4);
  strings.forEach((s, i) => [...s].forEach((ch, j) => out.writeUInt32LE(ch.codePointAt(0)!, (i * width + j) * 4)));
  return out;
}

test('folder layout: one class per sub-folder, images at any depth, natural order', { timeout: TIMEOUT }, async (t) => {
  const root = await temporaryFolder('histoseek-col-', t);
  await mkdir(join(root, 'stroma', 'deep', 'er'), { recursive: true });
  await mkdir(join(root, 'tumour'), { recursive: true });
  await png(join(root, 'stroma', 'deep', 'er', 'a.png'), [200, 100, 150]);
  await png(join(root, 'tumour', 'img10.png'), [90, 40, 140]);
  await png(join(root, 'tumour', 'img2.png'), [90, 40, 140]);
  await writeFile(join(root, 'tumour', 'notes.txt'), 'not an image');
  const c = await readCollection(root, 'folder');
  assert.deepEqual(
    c.items.map((i) => [i.label, i.source.slice(root.length + 1)]),
    [
      ['stroma', 'stroma/deep/er/a.png'],
      ['tumour', 'tumour/img2.png'],
      ['tumour', 'tumour/img10.png'],
    ],
  );
});

test(
  'kimia layout: scan folders in train and test trees; label and slide are the scan',
  { timeout: TIMEOUT },
  async (t) => {
    const root = await temporaryFolder('histoseek-col-', t);
    for (const [tree, scans] of [
      ['Training', ['s0', 's1', 's10']],
      ['test', ['s0', 's10']],
    ] as const) {
      for (const scan of scans) {
        await mkdir(join(root, tree, scan, 'x'), { recursive: true });
        await png(join(root, tree, scan, 'x', `${scan}_1.png`), [120, 60, 160]);
      }
    }
    await mkdir(join(root, 'Training', 'README'), { recursive: true });
    const train = await readCollection(root, 'kimia', 'index');
    assert.deepEqual(
      train.items.map((i) => [i.label, i.slide]),
      [
        ['s0', 's0'],
        ['s1', 's1'],
        ['s10', 's10'],
      ],
    );
    const test_ = await readCollection(root, 'kimia', 'queries');
    assert.deepEqual(
      test_.items.map((i) => i.label),
      ['s0', 's10'],
    );
    assert.ok(test_.items.every((i) => i.source.includes('/test/')));
    await assert.rejects(readCollection(join(root, 'test', 's0'), 'kimia'), /no Kimia scan folders/);

    // A slide CSV relabels by scan (e.g. the tissue class of each synthetic slide); the slide stays the scan.
    const csv = join(root, 'labels.csv');
    await writeFile(csv, 'slide,label\ns0,tumour\ns1,stroma,p7\ns10,tumour\n');
    const byClass = await readCollection(root, 'kimia', 'index', { labels: csv });
    assert.deepEqual(
      byClass.items.map((i) => [i.label, i.slide, i.patient]),
      [
        ['tumour', 's0', undefined],
        ['stroma', 's1', 'p7'],
        ['tumour', 's10', undefined],
      ],
    );
    await writeFile(csv, 'slide,label\ns0,tumour\n');
    await assert.rejects(
      readCollection(root, 'kimia', 'queries', { labels: csv }),
      /s10: scan 's10' has no row in the labels CSV/,
    );
    await assert.rejects(
      readCollection(root, 'folder', 'index', { labels: csv }),
      /applies to the kimia and slides layouts/,
    );
  },
);

test('pannuke layout: images.npy rows read in place with types.npy labels', { timeout: TIMEOUT }, async (t) => {
  const root = await temporaryFolder('histoseek-col-', t);
  const fold = join(root, 'Fold 1', 'images', 'fold1');
  await mkdir(fold, { recursive: true });
  const [n, side] = [3, 20];
  const images = new Float64Array(n * side * side * 3);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < side * side; p++) images.set([40 + 80 * i, 200 - 60 * i, 128], (i * side * side + p) * 3);
  await writeNpy(join(fold, 'images.npy'), '<f8', [n, side, side, 3], new Uint8Array(images.buffer));
  await writeNpy(join(fold, 'types.npy'), '<U16', [n], utf32(['Breast', 'Colon', 'Adrenal_gland'], 16));
  const c = await readCollection(root, 'pannuke');
  assert.deepEqual(
    c.items.map((i) => i.label),
    ['Breast', 'Colon', 'Adrenal_gland'],
  );
  assert.match(c.items[1].source, /images\.npy#1$/);
  const loader = new ItemLoader();
  const { pixels } = await loader.load(c.items[2].source, 16);
  assert.deepEqual([...pixels.subarray(0, 3)], [200, 80, 128]);
  await loader.close();
  const file = await NpyFile.open(join(fold, 'images.npy'));
  assert.deepEqual(file.shape, [n, side, side, 3]);
  await file.close();
  await writeFile(join(fold, 'images.npy'), await readFile(join(fold, 'types.npy')));
  await assert.rejects(readCollection(root, 'pannuke'), /images\.npy: expected \[N, H, W, 3\] images/);
});

test('imagenet layout: train/<wnid>/*.JPEG', { timeout: TIMEOUT }, async (t) => {
  const root = await temporaryFolder('histoseek-col-', t);
  for (const wnid of ['n01440764', 'n01443537']) {
    await mkdir(join(root, 'train', wnid), { recursive: true });
    await sharp({ create: { width: 24, height: 24, channels: 3, background: '#808080' } })
      .jpeg()
      .toFile(join(root, 'train', wnid, `${wnid}_1.JPEG`));
  }
  const c = await readCollection(root, 'imagenet');
  assert.deepEqual(
    c.items.map((i) => i.label),
    ['n01440764', 'n01443537'],
  );
});

test('missing folders, empty collections and truncated arrays are clear errors', { timeout: TIMEOUT }, async (t) => {
  const root = await temporaryFolder('histoseek-col-', t);
  await assert.rejects(readCollection(join(root, 'absent'), 'folder'), /absent: no such folder/);
  await assert.rejects(
    readCollection(root, 'imagenet'),
    /no images found for layout 'imagenet' \(expected train\/<wnid>\/\*\.JPEG\)/,
  );
  await writeNpy(join(root, 'short.npy'), '<f8', [5, 4], new Uint8Array(8));
  await assert.rejects(NpyFile.open(join(root, 'short.npy')), /short\.npy: truncated/);
  await writeFile(join(root, 'text.npy'), 'hello');
  await assert.rejects(NpyFile.open(join(root, 'text.npy')), /text\.npy: not a NumPy \.npy file/);
});
