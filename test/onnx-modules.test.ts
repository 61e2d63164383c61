import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildOnnxGraph } from '../src/engine/onnx-graph.js';
import { assertClose } from './helpers.js';
import { loadModuleCases } from './module-fixtures.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

for (const c of await loadModuleCases()) {
  test(`ONNX executor: module '${c.name}' matches the reference`, { timeout: TIMEOUT }, async () => {
    const inputs = c.inputs.map((_, i) => ({ name: `x${i}`, layout: 'NCHW' as const }));
    const bytes = buildOnnxGraph(c.weights, inputs, (ops, xs) => new Map([['y', c.run(ops, xs)]]));
    const session = await ort.InferenceSession.create(bytes);
    const feeds = Object.fromEntries(c.inputs.map((t, i) => [`x${i}`, new ort.Tensor('float32', t.data, t.shape)]));
    const y = (await session.run(feeds)).y;
    assertClose({ shape: y.dims.map(Number), data: y.data as Float32Array }, c.expected, c.name);
    await session.release();
  });
}
