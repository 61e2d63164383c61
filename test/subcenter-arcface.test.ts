import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { valueInfo } from '../src/engine/onnx-builder.js';
import { BackpropOps } from '../src/engine/onnx-backprop.js';
import { subCenterArcFace } from '../src/engine/onnx-arcface.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { FIXTURES, relativeMaxError } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

test('Sub-center ArcFace reproduces the reference loss and both gradients', { timeout: TIMEOUT }, async () => {
  const file = await readSafetensors(`${FIXTURES}subcenter_arcface.safetensors`);
  const t = file.tensors;
  const settings = {
    classes: Number(file.metadata.num_classes),
    subCenters: Number(file.metadata.sub_centers),
    marginDegrees: Number(file.metadata.margin_deg),
    scale: Number(file.metadata.scale),
  };
  const embeddings = t.get('embeddings')!;
  const W = t.get('W')!;
  const labels = Array.from(t.get('labels')!.data);
  const oneHot = new Float32Array(labels.length * settings.classes);
  labels.forEach((label, i) => (oneHot[i * settings.classes + label] = 1));

  const g = new BackpropOps(new Map(), { training: true, parameterGradients: true });
  const nodes = subCenterArcFace(g, 'E', 'one_hot', 'W', settings);
  for (const [value, name] of [
    [nodes.loss, 'loss'],
    [nodes.dEmbeddings, 'dE'],
    [nodes.dW, 'dW'],
  ])
    g.nodes.push({ opType: 'Identity', input: [value], output: [name], name });
  const model = g.serialize(
    [
      valueInfo('E', embeddings.shape),
      valueInfo('one_hot', [labels.length, settings.classes]),
      valueInfo('W', W.shape),
    ],
    [valueInfo('loss', []), valueInfo('dE', embeddings.shape), valueInfo('dW', W.shape)],
  );
  const session = await ort.InferenceSession.create(model);
  const out = await session.run({
    E: new ort.Tensor('float32', embeddings.data, embeddings.shape),
    one_hot: new ort.Tensor('float32', oneHot, [labels.length, settings.classes]),
    W: new ort.Tensor('float32', W.data, W.shape),
  });
  await session.release();
  const loss = (out.loss.data as Float32Array)[0];
  const expectedLoss = t.get('loss')!.data[0];
  assert.ok(Math.abs(loss - expectedLoss) <= 1e-4 * Math.abs(expectedLoss), `loss ${loss} vs ${expectedLoss}`);
  assert.ok(relativeMaxError(out.dE.data as Float32Array, t.get('grad_embeddings')!.data) <= 1e-4, 'grad embeddings');
  assert.ok(relativeMaxError(out.dW.data as Float32Array, t.get('grad_W')!.data) <= 1e-4, 'grad W');
});
