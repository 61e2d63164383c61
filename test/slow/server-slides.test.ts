/**
 * `histoseek serve`'s Deep Zoom slide routes on a demo --quick index, through fastify's inject: the
 * demo's slides are pyramidal TIFFs, which only OpenSlide (libopenslide0) opens, hence the slow tier.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { createServer } from '../../src/server/serve.js';
import { temporaryFolder } from '../helpers.js';
import { makeDemo } from '../server-fixtures.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

let app: FastifyInstance;

before(async () => {
  const demo = makeDemo(join(await temporaryFolder('histoseek-serve-slides-'), 'demo'));
  app = await createServer({ db: demo.db, webRoot: demo.webRoot, limits: { rate: null } });
});

after(async () => {
  await app?.close();
});

describe('slides (Deep Zoom)', { timeout: TIMEOUT }, () => {
  test('the demo slides are listed and tiled; unknown slides and tiles are 404s', async () => {
    assert.deepEqual((await app.inject('/api/slides')).json().slides, ['s0', 's1', 's2', 's3', 's4', 's5']);
    const info = (await app.inject('/api/slides/s1')).json();
    assert.equal(info.width, 768);
    assert.equal(info.maxLevel, 10);
    const tile = await app.inject(`/api/slides/s1/tiles/${info.maxLevel}/2_2.jpeg`);
    assert.equal(tile.statusCode, 200);
    const meta = await sharp(tile.rawPayload).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 256]);
    const whole = await sharp(
      (await app.inject(`/api/slides/s1/tiles/${info.maxLevel - 2}/0_0.jpeg`)).rawPayload,
    ).metadata();
    assert.deepEqual([whole.width, whole.height], [192, 192]);
    assert.equal((await app.inject('/api/slides/s9')).statusCode, 404);
    assert.equal((await app.inject(`/api/slides/s1/tiles/${info.maxLevel}/3_0.jpeg`)).statusCode, 404);
    assert.equal((await app.inject('/api/slides/s1/tiles/11/0_0.jpeg')).statusCode, 404);
  });
});
