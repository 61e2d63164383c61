import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeGradientSession } from '../src/engine/onnx-parts.js';
import { fromTrainingLayout, permute, toTrainingLayout } from '../src/engine/training-layout.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import type { HostPyramid } from '../src/model/host-tensor.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { assertClose, FIXTURE_IO, FIXTURE_WEIGHTS } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const NHWC = [0, 2, 3, 1];
const NCHW = [0, 3, 1, 2];

test(
  'the differentiable executor reproduces every traced neck tensor and the descriptor of the PyTorch reference',
  { timeout: TIMEOUT },
  async () => {
    const model = await loadCheckpoint(FIXTURE_WEIGHTS);
    const io = (await readSafetensors(FIXTURE_IO)).tensors;
    const features = [0, 1, 2, 3].map((i) => permute(io.get(`backbone.${i}`)!, NHWC)) as HostPyramid;
    const session = await NodeGradientSession.create(model.config, model.weights);
    const n = features[0].shape[0];
    const dim = io.get('embedding')!.shape[1];
    const target = new Float32Array(dim).fill(1 / Math.sqrt(dim));
    const out = await session.run(
      features,
      Array.from({ length: n }, () => target),
    );
    await session.release();
    assert.equal(out.activations.length, model.config.neckLayers);
    out.activations.forEach((layer, l) =>
      layer.forEach((t, i) => assertClose(permute(t, NCHW), io.get(`neck${l}.${i}`)!, `neck${l}.${i}`)),
    );
    const descriptors = { shape: [n, dim], data: Float32Array.from(out.descriptors.flatMap((d) => [...d])) };
    assertClose(descriptors, io.get('embedding')!, 'embedding');
    out.descriptors.forEach((d, i) => {
      const cosine = d.reduce((sum, v, k) => sum + v * target[k], 0) / Math.hypot(...d);
      assert.ok(Math.abs(out.scores[i] - cosine) < 1e-5, `score ${i}: ${out.scores[i]} vs ${cosine}`);
    });
  },
);

test('parameter layouts round-trip between PyTorch and training layouts', () => {
  for (const shape of [[6, 4, 3, 3], [6, 1, 7, 7], [5, 3], [7], [1]]) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => i * 0.5 - 3);
    const there = toTrainingLayout({ shape, data });
    if (shape.length === 4) assert.deepEqual(there.shape, [shape[2], shape[3], shape[1], shape[0]]);
    const back = fromTrainingLayout(there);
    assert.deepEqual(back.shape, shape);
    assert.deepEqual(Array.from(back.data), Array.from(data));
  }
  // OIHW [2, 1, 1, 3] → HWIO [1, 3, 1, 2]: element (o, 0, 0, w) lands at (0, w, 0, o).
  const t = toTrainingLayout({ shape: [2, 1, 1, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
  assert.deepEqual(Array.from(t.data), [1, 4, 2, 5, 3, 6]);
});
