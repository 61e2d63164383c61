import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors.js';
import { traceOutputNames } from '../src/engine/graph-names.js';
import { loadCheckpoint, randomModel, saveCheckpoint } from '../src/model/checkpoint.js';
import { assertClose, FIXTURE_IO, FIXTURE_WEIGHTS, histoseek, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const SMALL = { preset: 'test', neckChannels: 8, neckLayers: 1, gemP: 4.6, inputSize: 64 } as const;

/** A small H&E-coloured noise image. */
function tissue(width: number, height: number, channels: 1 | 3 | 4 = 3): ReturnType<typeof sharp> {
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = 120 + ((i * 7919) % 113);
  return sharp(data, { raw: { width, height, channels } });
}

async function smallModel(dir: string): Promise<string> {
  const path = join(dir, 'small.safetensors');
  await saveCheckpoint(path, randomModel(SMALL, 5));
  return path;
}

test(
  'embed --tensors --trace reproduces the reference fixture through the real command',
  { timeout: TIMEOUT },
  async (t) => {
    const out = join(await temporaryFolder('histoseek-cli-', t), 'x.safetensors');
    const r = histoseek('embed', '--tensors', FIXTURE_IO, '--weights', FIXTURE_WEIGHTS, '--trace', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const got = (await readSafetensors(out)).tensors;
    const expected = (await readSafetensors(FIXTURE_IO)).tensors;
    const config = (await loadCheckpoint(FIXTURE_WEIGHTS)).config;
    for (const name of ['embedding', ...traceOutputNames(config)])
      assertClose(got.get(name)!, expected.get(name)!, name);
  },
);

test(
  'embed reads JPEG, PNG (grey, RGBA) and 16-bit TIFF, and records the files in order',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-cli-', t);
    const files = [join(dir, 'a.jpg'), join(dir, 'b.png'), join(dir, 'c.png'), join(dir, 'd.tif')];
    await tissue(80, 60).jpeg().toFile(files[0]);
    await tissue(70, 70, 1).png().toFile(files[1]);
    await tissue(64, 90, 4).png().toFile(files[2]);
    const deep = new Uint16Array(64 * 64 * 3).map((_, i) => 30000 + ((i * 7919) % 30000));
    await sharp(deep, { raw: { width: 64, height: 64, channels: 3 } })
      .toColourspace('rgb16')
      .tiff({ compression: 'lzw' })
      .toFile(files[3]);
    assert.equal((await sharp(files[3]).metadata()).depth, 'ushort', '16-bit TIFF written');
    const out = join(dir, 'e.safetensors');
    const r = histoseek(
      'embed',
      ...files,
      '--weights',
      await smallModel(dir),
      '--out',
      out,
      '--batch',
      '3',
      '--size',
      '96',
    );
    assert.equal(r.status, 0, r.stderr);
    const file = await readSafetensors(out);
    assert.equal(file.metadata.input_size, '96');
    assert.deepEqual(file.tensors.get('embedding')!.shape, [4, 32]);
    assert.deepEqual(JSON.parse(file.metadata.paths), files);
    assert.ok(file.tensors.get('embedding')!.data.every(Number.isFinite));
  },
);

test(
  'an unreadable image stops embed with its name and reason; --skip-bad embeds the rest',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-cli-', t);
    const good = join(dir, 'good.png');
    await tissue(64, 64).png().toFile(good);
    const jpeg = await tissue(256, 256).jpeg().toBuffer();
    const truncated = join(dir, 'truncated.jpg');
    await writeFile(truncated, jpeg.subarray(0, jpeg.length >> 1));
    const text = join(dir, 'notes.png');
    await writeFile(text, 'this is not an image\n');
    const tiny = join(dir, 'tiny.png');
    await tissue(1, 1).png().toFile(tiny);
    const weights = await smallModel(dir);
    const out = join(dir, 'out.safetensors');

    for (const bad of [truncated, text, tiny]) {
      const r = histoseek('embed', good, bad, '--weights', weights, '--out', out);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(bad.replaceAll('.', '\\.')));
      await assert.rejects(readFile(out), 'nothing written');
    }
    const r = histoseek('embed', good, truncated, text, tiny, '--weights', weights, '--out', out, '--skip-bad');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /1×1/);
    assert.match(r.stderr, /3 unreadable images skipped/);
    const file = await readSafetensors(out);
    assert.deepEqual(JSON.parse(file.metadata.paths), [good]);
  },
);

test(
  'bad weights and tensor files get clear errors naming the file and the problem',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-cli-', t);
    const model = randomModel(SMALL, 5);
    const misShaped = join(dir, 'mis-shaped.safetensors');
    const weights = new Map(model.weights);
    weights.set('head.h1.fc.weight', { shape: [4, 8], data: new Float32Array(32) });
    await saveCheckpoint(misShaped, { config: model.config, weights });
    let r = histoseek('embed', '--tensors', FIXTURE_IO, '--weights', misShaped);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /mis-shaped\.safetensors.*head\.h1\.fc\.weight is \[4, 8\], expected \[8, 8\]/);

    const corrupt = join(dir, 'corrupt.safetensors');
    const bytes = Buffer.from(await readFile(FIXTURE_WEIGHTS));
    bytes.write('#garbage#', 8);
    await writeFile(corrupt, bytes);
    r = histoseek('embed', '--tensors', FIXTURE_IO, '--weights', corrupt);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /corrupt\.safetensors/);

    const wrongInput = join(dir, 'wrong-input.safetensors');
    await writeSafetensors(wrongInput, { input: { shape: [1, 3, 50, 50], data: new Float32Array(7500) } });
    r = histoseek('embed', '--tensors', wrongInput, '--weights', FIXTURE_WEIGHTS);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /wrong-input\.safetensors: 'input' must be \[N, 3, H, W\] with H and W multiples of 32, got \[1, 3, 50, 50\]/,
    );

    r = histoseek('embed', join(dir, 'missing.png'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /missing\.png: no such file or folder/);
  },
);

test(
  'a checkpoint saved as F16 or BF16 loads and embeds like the F32 one within their precision',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-cli-', t);
    const model = await loadCheckpoint(FIXTURE_WEIGHTS);
    const outputs: Float32Array[] = [];
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const path = join(dir, `${dtype}.safetensors`);
      await saveCheckpoint(path, model, dtype);
      const out = join(dir, `${dtype}-out.safetensors`);
      const r = histoseek('embed', '--tensors', FIXTURE_IO, '--weights', path, '--out', out);
      assert.equal(r.status, 0, r.stderr);
      outputs.push((await readSafetensors(out)).tensors.get('embedding')!.data);
    }
    const expected = (await readSafetensors(FIXTURE_IO)).tensors.get('embedding')!;
    assertClose({ shape: expected.shape, data: outputs[0] }, expected, 'F32');
    assertClose({ shape: expected.shape, data: outputs[1] }, expected, 'F16', 5e-2);
    assertClose({ shape: expected.shape, data: outputs[2] }, expected, 'BF16', 2e-1);
  },
);
