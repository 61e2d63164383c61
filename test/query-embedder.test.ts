import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEmbedder } from '../src/engine/embedders.js';
import { randomModel } from '../src/model/checkpoint.js';
import type { ModelConfig } from '../src/model/config.js';
import { QueryEmbedder } from '../src/server/query-embedder.js';
import { Random } from '../src/util/random.js';
import { relativeMaxError } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

const CONFIG: ModelConfig = { preset: 'test', neckChannels: 8, neckLayers: 1, gemP: 4.6, inputSize: 64 };

test(
  'a lone query and the same image in a batch of concurrent queries get the same unit descriptor',
  { timeout: TIMEOUT },
  async () => {
    const model = randomModel(CONFIG, 4);
    const messages: string[] = [];
    const queries = await QueryEmbedder.create(await createEmbedder(model, { threads: 2 }), 2, (m) => messages.push(m));
    assert.match(
      messages.join('\n'),
      /one query image: [\d.]+ ms on 1 thread, [\d.]+ ms on 2; lone queries run on (1 thread|2 threads)/,
    );
    const random = new Random(5);
    const images = Array.from({ length: 3 }, () => random.fillNormal(new Float32Array(3 * 64 * 64)));
    const alone = await queries.embed(images[0]);
    const together = await Promise.all(images.map((image) => queries.embed(image)));
    assert.equal(alone.length, 4 * CONFIG.neckChannels);
    assert.ok(Math.abs(Math.hypot(...alone) - 1) < 1e-5, 'unit length');
    assert.ok(relativeMaxError(together[0], alone) < 1e-5, `batched vs lone: ${relativeMaxError(together[0], alone)}`);
    assert.ok(relativeMaxError(together[1], alone) > 1e-2, 'a different image gets a different descriptor');
    await queries.release();
  },
);
