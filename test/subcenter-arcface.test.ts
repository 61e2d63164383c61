import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initTfjs } from '../src/engine/tfjs-backend.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { subCenterArcFaceLoss } from '../src/train/subcenter-arcface.js';
import { FIXTURES, relativeMaxError } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

await initTfjs();

test('Sub-center ArcFace reproduces the reference loss and both gradients', { timeout: TIMEOUT }, async () => {
  const file = await readSafetensors(`${FIXTURES}subcenter_arcface.safetensors`);
  const t = file.tensors;
  const settings = {
    classes: Number(file.metadata.num_classes),
    subCenters: Number(file.metadata.sub_centers),
    marginDegrees: Number(file.metadata.margin_deg),
    scale: Number(file.metadata.scale),
  };
  const labels = Array.from(t.get('labels')!.data);
  const e = tf.tensor2d(t.get('embeddings')!.data, t.get('embeddings')!.shape as [number, number]);
  const W = tf.tensor2d(t.get('W')!.data, t.get('W')!.shape as [number, number]);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    subCenterArcFaceLoss(a as tf.Tensor2D, labels, b as tf.Tensor2D, settings),
  );
  const loss = subCenterArcFaceLoss(e, labels, W, settings).dataSync()[0];
  const [gE, gW] = grads([e, W]);
  const expectedLoss = t.get('loss')!.data[0];
  assert.ok(Math.abs(loss - expectedLoss) <= 1e-4 * Math.abs(expectedLoss), `loss ${loss} vs ${expectedLoss}`);
  assert.ok(relativeMaxError(gE.dataSync(), t.get('grad_embeddings')!.data) <= 1e-4, 'grad embeddings');
  assert.ok(relativeMaxError(gW.dataSync(), t.get('grad_W')!.data) <= 1e-4, 'grad W');
});
