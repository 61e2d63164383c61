/**
 * The viewer's slides from DICOM WSI files: `serve --slides DIR` lists a folder holding one series
 * (and each series of a folder holding several) beside slide files, and cuts Deep Zoom tiles from
 * their frames. Fast tier: the series are the project's own files (test/dicom-fixtures.ts), read
 * without OpenSlide.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { createServer } from '../src/server/serve.js';
import { writeDicomWsi, type DicomWsiFixture, type RgbImage } from './dicom-fixtures.js';
import { temporaryFolder } from './helpers.js';
import { makeDemo } from './server-fixtures.js';

const TIMEOUT = 300_000;

/** Four flat quadrants, so a tile's colour says where it was cut from. */
function quadrants(width: number, height: number): RgbImage {
  const colours = [
    [200, 60, 60],
    [60, 160, 60],
    [60, 60, 200],
    [230, 200, 80],
  ];
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      rgb.set(colours[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]!, (y * width + x) * 3);
  return { rgb, width, height };
}

async function meanColour(jpeg: Buffer): Promise<number[]> {
  const { channels } = await sharp(jpeg).stats();
  return channels.slice(0, 3).map((c) => c.mean);
}

let app: FastifyInstance;
let several: DicomWsiFixture[];

before(async () => {
  const dir = await temporaryFolder('histoseek-serve-dicom-');
  const demo = makeDemo(join(dir, 'demo'));
  const slides = join(dir, 'slides');
  const image = quadrants(1024, 768);
  await writeDicomWsi(join(slides, 'case-1'), image, { levels: 3, tiling: 'full' });
  several = [
    await writeDicomWsi(join(slides, 'study'), image, { fileName: (i) => `a${i}`, tiling: 'sparse' }),
    await writeDicomWsi(join(slides, 'study'), image, { fileName: (i) => `b${i}`, transferSyntax: 'native' }),
  ];
  app = await createServer({ db: demo.db, webRoot: demo.webRoot, slidesDir: slides, limits: { rate: null } });
});

after(async () => {
  await app?.close();
});

describe('the viewer on DICOM WSI files', { timeout: TIMEOUT }, () => {
  test('each series is a slide: the folder of one, the series UID of several', async () => {
    const listed = (await app.inject('/api/slides')).json().slides as string[];
    assert.deepEqual(listed.sort(), ['case-1', ...several.map((s) => s.seriesInstanceUid)].sort());
    const info = (await app.inject('/api/slides/case-1')).json();
    assert.deepEqual([info.width, info.height, info.maxLevel], [1024, 768, 10]);
    assert.deepEqual(info.mpp, { x: 0.5, y: 0.5 });
  });

  test('Deep Zoom tiles come from the frames, full resolution and from coarser levels', async () => {
    for (const id of ['case-1', ...several.map((s) => s.seriesInstanceUid)]) {
      // Full resolution, the top-left tile: red; the tile at (3, 2) is in the bottom-right quadrant: yellow.
      const red = await meanColour((await app.inject(`/api/slides/${id}/tiles/10/0_0.jpeg`)).rawPayload);
      const yellow = await meanColour((await app.inject(`/api/slides/${id}/tiles/10/3_2.jpeg`)).rawPayload);
      for (const [got, want] of [
        [red, [200, 60, 60]],
        [yellow, [230, 200, 80]],
      ] as const)
        got.forEach((v, c) => assert.ok(Math.abs(v - want[c]!) <= 4, `${id}: ${got} against ${want}`));
    }
    // The whole slide in one tile (Deep Zoom level 8: 256 × 192), read from the series' coarsest level.
    const whole = (await app.inject('/api/slides/case-1/tiles/8/0_0.jpeg')).rawPayload;
    const meta = await sharp(whole).metadata();
    assert.deepEqual([meta.width, meta.height], [256, 192]);
    // Equal quadrants: the whole slide's mean is the mean of their colours.
    const mean = await meanColour(whole);
    [137.5, 120, 100].forEach((want, c) => assert.ok(Math.abs(mean[c]! - want) <= 4, `${mean} against 137.5,120,100`));
  });
});
