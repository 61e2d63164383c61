import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { traceOutputNames } from '../src/engine/graph-names.js';
import { assertClose, FIXTURE_IO, FIXTURE_WEIGHTS, relativeMaxError } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

test('ONNX executor reproduces every traced tensor of the PyTorch reference', { timeout: TIMEOUT }, async () => {
  const model = await loadCheckpoint(FIXTURE_WEIGHTS);
  const io = (await readSafetensors(FIXTURE_IO)).tensors;
  const embedder = await OnnxEmbedder.create(model, { trace: true, threads: 1 });
  const out = await embedder.run(io.get('input')!);
  for (const name of [...traceOutputNames(model.config), 'embedding']) {
    assertClose(out.get(name)!, io.get(name)!, name);
  }
  await embedder.release();
});

test('ONNX embedding of one image does not depend on the rest of its batch', { timeout: TIMEOUT }, async () => {
  const model = await loadCheckpoint(FIXTURE_WEIGHTS);
  const io = (await readSafetensors(FIXTURE_IO)).tensors;
  const input = io.get('input')!;
  const embedder = await OnnxEmbedder.create(model);
  const single = await embedder.embed({ shape: [1, 3, 64, 64], data: input.data.subarray(3 * 64 * 64) });
  const expected = io.get('embedding')!.data.subarray(128);
  assert.ok(relativeMaxError(single.data, expected) < 1e-4);
  await embedder.release();
});
