import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BACKBONE_PRESETS, isPresetName, type ModelConfig } from '../src/model/config.js';
import { randomModel, withTimmBackbone } from '../src/model/checkpoint.js';
import { parameterSpecs, randomWeights } from '../src/model/params.js';
import { writeSafetensors } from '../src/model/safetensors.js';
import { FIXTURES, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const reference = JSON.parse(await readFile(`${FIXTURES}param_shapes.json`, 'utf8')) as Record<
  string,
  Record<string, number[]>
>;

for (const preset of Object.keys(BACKBONE_PRESETS)) {
  test(`preset '${preset}' has exactly the reference model's parameters and shapes`, { timeout: TIMEOUT }, () => {
    assert.ok(isPresetName(preset));
    const specs = parameterSpecs({ preset, neckChannels: 64, neckLayers: 2, gemP: 4.6, inputSize: 224 });
    const ours = Object.fromEntries([...specs].map(([name, spec]) => [name, spec.shape]));
    assert.deepEqual(ours, reference[preset]);
  });
}

test('random weights are seeded: the same seed repeats, another seed differs', { timeout: TIMEOUT }, () => {
  const config: ModelConfig = { preset: 'atto', neckChannels: 16, neckLayers: 1, gemP: 3, inputSize: 64 };
  const a = randomWeights(config, 1);
  const b = randomWeights(config, 1);
  const c = randomWeights(config, 2);
  const name = 'backbone.stages.2.blocks.3.mlp.fc1.weight';
  assert.deepEqual(a.get(name)!.data, b.get(name)!.data);
  assert.notDeepEqual(a.get(name)!.data, c.get(name)!.data);
  assert.equal(a.get('head.h3.gem.p')!.data[0], 3);
  assert.ok(a.get('neck.0.p2_2_weight')!.data.every((w) => w === 1));
  const w = a.get(name)!.data;
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  assert.ok(Math.abs(std - 1 / Math.sqrt(160)) < 0.01, `fan-in scaled init, std ${std}`);
});

test(
  'a timm ConvNeXt V2 checkpoint loads as the backbone with no renaming; a wrong preset is named',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-timm-', t);
    const config: ModelConfig = { preset: 'test', neckChannels: 8, neckLayers: 1, gemP: 4.6, inputSize: 64 };
    const donor = randomModel(config, 9);
    const timm = new Map(
      [...donor.weights].filter(([n]) => n.startsWith('backbone.')).map(([n, t]) => [n.slice('backbone.'.length), t]),
    );
    timm.set('head.norm.weight', { shape: [128], data: new Float32Array(128) });
    timm.set('head.fc.weight', { shape: [1000, 128], data: new Float32Array(128000) });
    const file = join(dir, 'model.safetensors');
    await writeSafetensors(file, timm);
    const model = await withTimmBackbone(randomModel(config, 1), file);
    for (const [name, tensor] of donor.weights) {
      const expected = name.startsWith('backbone.') ? tensor : randomModel(config, 1).weights.get(name)!;
      assert.deepEqual(model.weights.get(name)!.data, expected.data, name);
    }
    const atto = randomModel({ ...config, preset: 'atto' }, 1);
    await assert.rejects(
      withTimmBackbone(atto, file),
      /model\.safetensors \(as a ConvNeXt V2 'atto' backbone\).*backbone\.stem\.0\.weight is \[16, 3, 4, 4\], expected \[40, 3, 4, 4\]/,
    );
  },
);
