import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  ImageError,
  decodeRgb,
  loadPreprocessed,
  loadRgb,
  normalizeInto,
} from '../src/data/image.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

let dir = '';
before(async () => {
  dir = await temporaryFolder('histoseek-image-');
});

const SIZE = 32;
const PLANE = SIZE * SIZE;

/** The input normalisation of docs/model.md#input, rounded to float32 like the output buffer. */
const expected = (value: number, channel: number): number =>
  Math.fround((value / 255 - IMAGENET_MEAN[channel]!) / IMAGENET_STD[channel]!);

/** Raw interleaved pixels whose bytes per sample follow the array type (Uint16Array = 16-bit). */
function raw(data: Uint8Array | Uint16Array, width: number, height: number, channels: 1 | 2 | 3 | 4) {
  return sharp(data, { raw: { width, height, channels } });
}

async function solidPng(name: string, rgb: [number, number, number], width = 40, height = 30): Promise<string> {
  const file = join(dir, name);
  const [r, g, b] = rgb;
  await sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .png()
    .toFile(file);
  return file;
}

const at = (pixels: Uint8Array, x: number, y: number, c: number): number => pixels[3 * (y * SIZE + x) + c]!;

/** Rejects with an ImageError for `path` whose message matches `pattern`. */
async function rejectsWith(promise: Promise<unknown>, path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ImageError, `expected ImageError, got ${String(err)}`);
    assert.equal(err.path, path);
    assert.ok(err.message.startsWith(`${path}: `), err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('preprocessing', { timeout: TIMEOUT }, () => {
  test('a solid colour gives the normalised value of each channel everywhere', async () => {
    const rgb: [number, number, number] = [200, 100, 50];
    const out = await loadPreprocessed(await solidPng('solid.png', rgb), SIZE);
    assert.equal(out.length, 3 * PLANE);
    for (let c = 0; c < 3; c++) {
      const want = expected(rgb[c]!, c);
      for (let i = 0; i < PLANE; i++) assert.equal(out[c * PLANE + i], want, `channel ${c} index ${i}`);
    }
    assert.ok(Math.abs(out[0]! - (200 / 255 - 0.485) / 0.229) < 1e-6);
  });

  test('output is planar CHW: a red image has only channel 0 high', async () => {
    const out = await loadPreprocessed(await solidPng('red.png', [255, 0, 0]), SIZE);
    for (let i = 0; i < PLANE; i++) {
      assert.equal(out[i], expected(255, 0));
      assert.equal(out[PLANE + i], expected(0, 1));
      assert.equal(out[2 * PLANE + i], expected(0, 2));
    }
  });

  test('orientation is kept: R grows left to right, G grows top to bottom', async () => {
    const [width, height] = [64, 48];
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        data[3 * (y * width + x)] = x * 4;
        data[3 * (y * width + x) + 1] = y * 5;
      }
    }
    const file = join(dir, 'gradient.png');
    await raw(data, width, height, 3).png().toFile(file);

    const { pixels, width: w, height: h } = await loadRgb(file, SIZE);
    assert.deepEqual([w, h], [width, height]);
    for (let i = 0; i < SIZE; i++) {
      assert.ok(at(pixels, 0, i, 0) + 150 < at(pixels, SIZE - 1, i, 0), `row ${i}: left R darker than right`);
      assert.equal(at(pixels, i, 0, 0), at(pixels, i, SIZE - 1, 0), `column ${i}: R constant top to bottom`);
      assert.ok(at(pixels, i, 0, 1) + 150 < at(pixels, i, SIZE - 1, 1), `column ${i}: top G darker than bottom`);
      assert.equal(at(pixels, 0, i, 1), at(pixels, SIZE - 1, i, 1), `row ${i}: G constant left to right`);
    }
  });

  test('EXIF orientation is applied', async () => {
    // Stored 48×32 with a dark left half; orientation 6 displays it rotated 90° clockwise, so 32×48 with a dark top.
    const [width, height] = [48, 32];
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) data.fill(x < width / 2 ? 20 : 230, 3 * (y * width + x), 3 * (y * width + x) + 3);
    }
    const file = join(dir, 'rotated.jpg');
    await raw(data, width, height, 3).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(file);
    assert.equal((await sharp(file).metadata()).orientation, 6);

    const { pixels, width: w, height: h } = await loadRgb(file, SIZE);
    assert.deepEqual([w, h], [height, width]);
    assert.ok(at(pixels, SIZE / 2, 2, 0) < 60, 'top is dark');
    assert.ok(at(pixels, SIZE / 2, SIZE - 3, 0) > 190, 'bottom is bright');
    assert.ok(Math.abs(at(pixels, 2, 2, 0) - at(pixels, SIZE - 3, 2, 0)) < 10, 'left and right alike');
  });
});

describe('pixel formats', { timeout: TIMEOUT }, () => {
  test('a grayscale PNG gives R = G = B', async () => {
    const [width, height] = [40, 40];
    const data = new Uint8Array(width * height).map((_, i) => (i * 7) % 256);
    const file = join(dir, 'gray.png');
    await raw(data, width, height, 1).toColourspace('b-w').png().toFile(file);
    assert.equal((await sharp(file).metadata()).channels, 1);

    const { pixels } = await loadRgb(file, SIZE);
    assert.equal(pixels.length, 3 * PLANE);
    for (let i = 0; i < PLANE; i++) {
      assert.equal(pixels[3 * i + 1], pixels[3 * i]);
      assert.equal(pixels[3 * i + 2], pixels[3 * i]);
    }
    assert.ok(new Set(pixels).size > 10, 'the gray levels survive');
  });

  test('transparent pixels of an RGBA PNG become white', async () => {
    const data = new Uint8Array(32 * 32 * 4);
    for (let i = 0; i < data.length; i += 4) data.set([10, 20, 30, 0], i);
    const file = join(dir, 'transparent.png');
    await raw(data, 32, 32, 4).png().toFile(file);

    const { pixels } = await loadRgb(file, SIZE);
    assert.ok(pixels.every((v) => v === 255));
  });

  test('a palette PNG decodes to its colours', async () => {
    const file = join(dir, 'palette.png');
    await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 90, g: 40, b: 160 } } })
      .png({ palette: true })
      .toFile(file);
    assert.ok((await sharp(file).metadata()).isPalette);

    const { pixels } = await loadRgb(file, SIZE);
    assert.deepEqual([...pixels.subarray(0, 3)], [90, 40, 160]);
  });

  for (const format of ['tiff', 'png'] as const) {
    test(`16-bit ${format} is scaled to 8 bits, not clipped or truncated`, async () => {
      // 0.8 → 204; 40000/257 ≈ 155.6; 1000/257 ≈ 3.9 (a truncated low byte would give 232).
      const sample = [Math.round(65535 * 0.8), 40000, 1000];
      const data = new Uint16Array(24 * 24 * 3).map((_, i) => sample[i % 3]!);
      const file = join(dir, `deep.${format}`);
      // TIFF needs lossless compression: sharp's default (JPEG) would store 8 bits.
      const image = raw(data, 24, 24, 3).toColourspace('rgb16');
      await (format === 'tiff' ? image.tiff({ compression: 'lzw' }) : image.png()).toFile(file);
      assert.equal((await sharp(file).metadata()).depth, 'ushort');

      const { pixels } = await loadRgb(file, SIZE);
      for (const [c, want] of [204, 156, 4].entries()) {
        for (let i = 0; i < PLANE; i++)
          assert.ok(Math.abs(pixels[3 * i + c]! - want) <= 1, `channel ${c}: ${pixels[3 * i + c]}`);
      }
    });
  }

  test('16-bit RGB with an embedded ICC profile keeps its stored values', async () => {
    // sharp would otherwise convert such images to Display P3 and hand them on as sRGB.
    const data = new Uint16Array(24 * 24 * 3).map((_, i) => [65535, 40000, 1000][i % 3]!);
    const file = join(dir, 'profiled.tif');
    await raw(data, 24, 24, 3).toColourspace('rgb16').withIccProfile('srgb').tiff({ compression: 'lzw' }).toFile(file);
    // keepIccProfile makes sharp skip the colour transform, so this reads the samples as stored.
    const stored = await sharp(file).keepIccProfile().toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
    const want = [...new Uint16Array(stored.buffer, stored.byteOffset, 3)].map((v) => v / 257);

    const { pixels } = await loadRgb(file, SIZE);
    for (let c = 0; c < 3; c++)
      assert.ok(Math.abs(pixels[c]! - want[c]!) <= 1, `channel ${c}: ${pixels[c]} vs ${want[c]}`);
  });

  test('decodeRgb reads an in-memory buffer', async () => {
    const bytes = await readFile(await solidPng('upload.png', [12, 34, 56], 50, 20));
    const { pixels, width, height } = await decodeRgb(bytes, SIZE, 'upload.png');
    assert.deepEqual([width, height], [50, 20]);
    assert.deepEqual([...pixels.subarray(-3)], [12, 34, 56]);
  });
});

describe('errors name the file and the reason', { timeout: TIMEOUT }, () => {
  test('missing file', async () => {
    const file = join(dir, 'nope.png');
    await rejectsWith(loadRgb(file, SIZE), file, /file not found/);
  });

  test('a text file named .png', async () => {
    const file = join(dir, 'x.png');
    await writeFile(file, 'this is not a picture\n');
    await rejectsWith(loadRgb(file, SIZE), file, /not a readable image: unsupported format or not an image file/);
  });

  test('a truncated JPEG is an error, not a grey image', async () => {
    const data = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 37) % 251);
    const jpeg = await raw(data, 64, 64, 3).jpeg().toBuffer();
    const file = join(dir, 'truncated.jpg');
    await writeFile(file, jpeg.subarray(0, jpeg.length >> 1));
    await rejectsWith(loadRgb(file, SIZE), file, /truncated or corrupt/);
  });

  test('a 1×1 image is too small', async () => {
    const file = await solidPng('dot.png', [1, 2, 3], 1, 1);
    await rejectsWith(loadRgb(file, SIZE), file, /image is 1×1 px; the smallest accepted side is 16 px/);
  });

  test('too many pixels', async () => {
    const file = await solidPng('big.png', [1, 2, 3], 64, 64);
    await rejectsWith(
      loadRgb(file, SIZE, { maxPixels: 1000 }),
      file,
      /64×64 px \(4096 pixels\); the limit is 1000 pixels/,
    );
  });

  test('decodeRgb names the label', async () => {
    await rejectsWith(decodeRgb(new Uint8Array(0), SIZE, 'upload #3'), 'upload #3', /not a readable image/);
  });
});

describe('normalizeInto', { timeout: TIMEOUT }, () => {
  const pixels = new Uint8Array(3 * PLANE).map((_, i) => i % 256);

  test('writes one image at the offset and nothing else', () => {
    const sentinel = -1234.5;
    const offset = 3 * PLANE + 7;
    const out = new Float32Array(offset + 3 * PLANE + 11).fill(sentinel);
    normalizeInto(pixels, SIZE, out, offset);

    assert.ok(
      out.subarray(0, offset).every((v) => v === sentinel),
      'before the image',
    );
    assert.ok(
      out.subarray(offset + 3 * PLANE).every((v) => v === sentinel),
      'after the image',
    );
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < PLANE; i++) assert.equal(out[offset + c * PLANE + i], expected(pixels[3 * i + c]!, c));
    }
  });

  test('rejects a buffer too small or pixels of the wrong size', () => {
    assert.throws(() => normalizeInto(pixels, SIZE, new Float32Array(3 * PLANE), 1), RangeError);
    assert.throws(() => normalizeInto(pixels.subarray(1), SIZE, new Float32Array(3 * PLANE), 0), RangeError);
  });
});
