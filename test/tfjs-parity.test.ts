import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initTfjs } from '../src/engine/tfjs-backend.js';
import { fromNchw, fromTfjsLayout, TfjsOps, toNchw, toTfjsLayout, weightsToTfjs } from '../src/engine/tfjs-ops.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { lgffem, type Pyramid, type Trace } from '../src/model/lgffem.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { assertClose, FIXTURE_IO, FIXTURE_WEIGHTS } from './helpers.js';
import { loadModuleCases } from './module-fixtures.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

await initTfjs();

test('tfjs executor (wasm) reproduces every traced tensor of the PyTorch reference', { timeout: TIMEOUT }, async () => {
  assert.equal(tf.getBackend(), 'wasm');
  const model = await loadCheckpoint(FIXTURE_WEIGHTS);
  const io = (await readSafetensors(FIXTURE_IO)).tensors;
  const params = weightsToTfjs(model.weights);
  const trace: Trace<tf.Tensor> = { backbone: [] as unknown as Pyramid<tf.Tensor>, neck: [] };
  const embedding = lgffem(new TfjsOps(params), fromNchw(io.get('input')!), model.config, trace);
  trace.backbone.forEach((t, i) => assertClose(toNchw(t), io.get(`backbone.${i}`)!, `backbone.${i}`));
  trace.neck.forEach((layer, l) =>
    layer.forEach((t, i) => assertClose(toNchw(t), io.get(`neck${l}.${i}`)!, `neck${l}.${i}`)),
  );
  assertClose(toNchw(embedding), io.get('embedding')!, 'embedding');
});

for (const c of await loadModuleCases()) {
  test(`tfjs executor: module '${c.name}' matches the reference`, { timeout: TIMEOUT }, () => {
    const params = weightsToTfjs(c.weights);
    const y = tf.tidy(() => c.run(new TfjsOps(params), c.inputs.map(fromNchw)));
    assertClose(toNchw(y), c.expected, c.name);
    y.dispose();
    params.forEach((t) => t.dispose());
  });
}

test('parameter layouts round-trip between PyTorch and tfjs', { timeout: TIMEOUT }, () => {
  for (const shape of [[6, 4, 3, 3], [6, 1, 7, 7], [5, 3], [7], [1]]) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => i * 0.5 - 3);
    const t = toTfjsLayout({ shape, data });
    const back = fromTfjsLayout(t);
    assert.deepEqual(back.shape, shape);
    assert.deepEqual(Array.from(back.data), Array.from(data));
    t.dispose();
  }
});
