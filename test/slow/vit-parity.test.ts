/**
 * The Vision Transformers (src/model/vit.ts) against the PyTorch reference
 * (test/fixtures/tools/vit_ref.py): for each of the seven foundation models, its real widths with
 * two blocks and random weights that both sides compute from the same counter-based formula, on
 * inputs at and off the trained grid. fp32 descriptors match the reference; int8 ones stay within
 * cosine 0.999 of fp32.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { normalizeInto } from '../../src/data/image.js';
import { renderPatch, TISSUE_CLASSES } from '../../src/data/synthetic/index.js';
import { probeRanges } from '../../src/engine/int8-calibration.js';
import { buildVitOnnxModel } from '../../src/engine/onnx-graph.js';
import { cpuSessionOptions } from '../../src/engine/ort-options.js';
import { VitEmbedder } from '../../src/engine/vit-session.js';
import type { HostTensor } from '../../src/model/host-tensor.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import type { VitArch } from '../../src/model/encoder.js';
import { VIT_ARCHS, vitDescriptorSize, type VitArchName } from '../../src/model/vit-config.js';
import {
  counterUniform,
  randomVitEncoder,
  randomVitWeights,
  resamplePositionEmbedding,
  vitParameterSpecs,
  vitWeightsForInput,
} from '../../src/model/vit-weights.js';
import { FIXTURES, PARITY_TOLERANCE, relativeMaxError, temporaryFolder, rowCosines } from '../helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 600_000;

interface VitCase {
  model: VitArchName;
  input_size: number;
  batch: number;
  depth: number;
  weight_seed: number;
  image_seed: number;
  /** The model at full depth in VitArch terms, as vit_ref.py reads its model card. */
  arch: VitArch;
}

const fixture = await readSafetensors(join(FIXTURES, 'vit_reference.safetensors'));
const CASES = JSON.parse(fixture.metadata.cases) as VitCase[];
/** int8 descriptors against fp32 (issue #26's acceptance). */
const INT8_COSINE = 0.999;

// The sessions here hold a few hundred MB of weights each: build them, do not cache them on disk.
process.env.HISTOSEEK_CACHE_DIR = 'off';

/** The reference's images: uint8 RGB from the shared counter formula, normalised as every histoseek embedder's input. */
function fixtureImages(seed: number, batch: number, size: number): HostTensor {
  const values = counterUniform('image', seed, batch * size * size * 3, 127.5, 127.5);
  const data = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < batch; i++) {
    const pixels = Uint8Array.from(values.subarray(i * size * size * 3, (i + 1) * size * size * 3), Math.floor);
    normalizeInto(pixels, size, data, i * 3 * size * size);
  }
  return { shape: [batch, 3, size, size], data };
}

/** Synthetic patches at seeds the int8 calibration never saw, one per tissue class. */
function unseenPatches(size: number): HostTensor {
  const data = new Float32Array(TISSUE_CLASSES.length * 3 * size * size);
  TISSUE_CLASSES.forEach((cls, i) => normalizeInto(renderPatch(cls, size, 9100 + i), size, data, i * 3 * size * size));
  return { shape: [TISSUE_CLASSES.length, 3, size, size], data };
}

test('vit-config presets are the architectures vit_ref.py reads from the model cards', { timeout: TIMEOUT }, () => {
  assert.deepEqual(CASES.map((c) => c.model).sort(), [
    'h-optimus-0',
    'h-optimus-1',
    'phikon-v2',
    'prov-gigapath',
    'uni',
    'uni2-h',
    'virchow2',
  ]);
  for (const c of CASES) assert.deepEqual({ ...VIT_ARCHS[c.model] }, c.arch, c.model);
});

test(
  'position embeddings resample as timm does (bicubic, antialiased; prefix entries kept)',
  { timeout: TIMEOUT },
  () => {
    const cases = JSON.parse(fixture.metadata.resample) as {
      name: string;
      prefix: number;
      old: number;
      grid: number;
      channels: number;
    }[];
    for (const c of cases) {
      const n = c.prefix + c.old * c.old;
      const posEmbed = {
        shape: [1, n, c.channels],
        data: counterUniform(`resample.${c.name}`, Number(fixture.metadata.resample_seed), n * c.channels, 0, 1),
      };
      const expected = fixture.tensors.get(`resample.${c.name}`)!;
      const actual = resamplePositionEmbedding(posEmbed, c.prefix, c.grid);
      assert.deepEqual(actual.shape, expected.shape, c.name);
      const err = relativeMaxError(actual.data, expected.data);
      assert.ok(err < 1e-6, `${c.name}: relative max error ${err.toExponential(2)}`);
    }
  },
);

test('ViT parameters carry timm names and shapes, pos_embed sized for the input', { timeout: TIMEOUT }, () => {
  const arch = { ...VIT_ARCHS.virchow2, depth: 1 };
  const specs = vitParameterSpecs(arch);
  assert.deepEqual(
    [...specs].map(([name, s]) => `${name} [${s.shape.join(',')}]`),
    [
      'patch_embed.proj.weight [1280,3,14,14]',
      'patch_embed.proj.bias [1280]',
      'cls_token [1,1,1280]',
      'reg_token [1,4,1280]',
      'pos_embed [1,261,1280]',
      'blocks.0.norm1.weight [1280]',
      'blocks.0.norm1.bias [1280]',
      'blocks.0.attn.qkv.weight [3840,1280]',
      'blocks.0.attn.qkv.bias [3840]',
      'blocks.0.attn.proj.weight [1280,1280]',
      'blocks.0.attn.proj.bias [1280]',
      'blocks.0.ls1.gamma [1280]',
      'blocks.0.norm2.weight [1280]',
      'blocks.0.norm2.bias [1280]',
      'blocks.0.mlp.fc1.weight [6832,1280]',
      'blocks.0.mlp.fc1.bias [6832]',
      'blocks.0.mlp.fc2.weight [1280,3416]',
      'blocks.0.mlp.fc2.bias [1280]',
      'blocks.0.ls2.gamma [1280]',
      'norm.weight [1280]',
      'norm.bias [1280]',
    ],
  );
  // no_embed_class: the embedding covers the patches only; a plain ViT has no LayerScale.
  assert.deepEqual(vitParameterSpecs(VIT_ARCHS['uni2-h'], 112).get('pos_embed')!.shape, [1, 64, 1536]);
  assert.ok(![...vitParameterSpecs(VIT_ARCHS['vit-b16']).keys()].some((name) => name.includes('.ls')));
  assert.throws(() => vitParameterSpecs(VIT_ARCHS.uni, 220), /multiple of 16, got 220/);
});

for (const c of CASES) {
  test(
    `${c.model}: fp32 matches the PyTorch reference at ${c.input_size} px, int8 within cosine ${INT8_COSINE}`,
    { timeout: TIMEOUT },
    async (t) => {
      const arch = { ...VIT_ARCHS[c.model], depth: c.depth };
      const weights = randomVitWeights(arch, c.weight_seed);
      const spec = { kind: 'vit' as const, name: c.model, arch, weights, sha256: `test-${c.model}` };
      const images = fixtureImages(c.image_seed, c.batch, c.input_size);
      const patches = unseenPatches(c.input_size);
      const expected = fixture.tensors.get(`${c.model}.embedding`)!;

      const fp32 = await VitEmbedder.create(spec, { inputSize: c.input_size, threads: 2 });
      assert.equal(fp32.dimensions, vitDescriptorSize(arch));
      const actual = await fp32.embed(images);
      const fp32Patches = await fp32.embed(patches);
      await fp32.release();
      assert.deepEqual(actual.shape, expected.shape);
      const err = relativeMaxError(actual.data, expected.data);
      assert.ok(err <= PARITY_TOLERANCE, `relative max error ${err.toExponential(2)} > ${PARITY_TOLERANCE}`);

      const int8 = await VitEmbedder.create(spec, { inputSize: c.input_size, precision: 'int8', threads: 2 });
      const cosines = [
        ...rowCosines(await int8.embed(images), actual),
        ...rowCosines(await int8.embed(patches), fp32Patches),
      ];
      await int8.release();
      t.diagnostic(
        `fp32 relative max error ${err.toExponential(2)}; int8 lowest cosine ${Math.min(...cosines).toFixed(5)}`,
      );
      assert.ok(Math.min(...cosines) >= INT8_COSINE, `cosines ${cosines.map((x) => x.toFixed(5)).join(' ')}`);
      assert.ok(Math.min(...cosines) < 1 - 1e-7, 'int8 differs from fp32: the quantised graph ran');
    },
  );
}

test(
  'VitEmbedder: one cached model per input size and precision; a wrong input size is refused',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-vit-cache-', t);
    process.env.HISTOSEEK_CACHE_DIR = dir;
    t.after(() => {
      process.env.HISTOSEEK_CACHE_DIR = 'off';
    });
    const arch: VitArch = { ...VIT_ARCHS['h-optimus-0'], embedDim: 48, heads: 3, mlpHidden: 128, depth: 1 };
    const spec = randomVitEncoder('tiny', arch, 3);
    const a = await VitEmbedder.create(spec, { inputSize: 56 });
    const input = unseenPatches(56);
    const first = await a.embed(input);
    await a.release();
    const cached = () => readdirSync(join(dir, 'onnx')).filter((f) => f.endsWith('.onnx'));
    const [fp32File] = cached();
    const written = statSync(join(dir, 'onnx', fp32File)).mtimeMs;
    const b = await VitEmbedder.create(spec, { inputSize: 56 });
    assert.equal(statSync(join(dir, 'onnx', fp32File)).mtimeMs, written, 'the second session loads the cached model');
    assert.deepEqual(
      Array.from((await b.embed(input)).data),
      Array.from(first.data),
      'the cached model gives the same descriptors',
    );
    const [, , h, w] = input.shape;
    const alone = await b.embed({ shape: [1, 3, h, w], data: input.data.subarray(3 * 3 * h * w, 4 * 3 * h * w) });
    const row = first.shape[1];
    assert.ok(
      relativeMaxError(alone.data, first.data.subarray(3 * row, 4 * row)) < 1e-5,
      'one image embeds as in a batch',
    );
    assert.equal(b.spec, spec);
    await assert.rejects(
      b.run({ shape: [1, 3, 42, 42], data: new Float32Array(3 * 42 * 42) }),
      /tiny \(random, seed 3\): input must be \[N, 3, 56, 56\], got \[1, 3, 42, 42\]/,
    );
    await b.release();
    await (await VitEmbedder.create(spec, { inputSize: 42, precision: 'int8' })).release();
    const models = cached();
    assert.equal(models.length, 2, models.join(' '));
    assert.ok(/-56-fp32-/.test(fp32File) && models.some((f) => /-42-int8-/.test(f)), models.join(' '));
    await assert.rejects(VitEmbedder.create(spec, { inputSize: 50 }), /multiple of 14, got 50/);
  },
);

test(
  'a ViT graph with its weights as external data (models past 2 GiB) runs and calibrates as the inline one',
  { timeout: TIMEOUT },
  async () => {
    const arch: VitArch = { ...VIT_ARCHS.virchow2, embedDim: 64, heads: 4, mlpHidden: 256, depth: 2 };
    const weights = vitWeightsForInput(arch, randomVitWeights(arch, 5), 84);
    const inline = buildVitOnnxModel(arch, weights);
    const external = buildVitOnnxModel(arch, weights, { externalFrom: 20 * 1024 });
    assert.equal(inline.externalData.length, 0);
    // patch_embed and each block's qkv, fc1 and fc2 weights; proj's 64×64 and pos_embed (41 tokens at 84 px) stay in.
    assert.equal(external.externalData.length, 7, external.externalData.map((f) => f.path).join(' '));
    const moved = external.externalData.reduce((sum, f) => sum + f.data.byteLength, 0);
    assert.ok(external.model.length < inline.model.length - moved + 1024);
    const input = unseenPatches(84);
    const feeds = { input: new ort.Tensor('float32', input.data, input.shape) };
    const outputs: Float32Array[] = [];
    for (const g of [inline, external]) {
      const session = await ort.InferenceSession.create(g.model, {
        ...cpuSessionOptions(1),
        externalData: g.externalData,
      });
      outputs.push((await session.run(feeds)).embedding.data as Float32Array);
      await session.release();
    }
    assert.deepEqual(outputs[1], outputs[0]);
    const calibrate = { quantization: { mode: 'calibrate' as const } };
    assert.deepEqual(
      await probeRanges(buildVitOnnxModel(arch, weights, { ...calibrate, externalFrom: 20 * 1024 }), 84, 1),
      await probeRanges(buildVitOnnxModel(arch, weights, calibrate), 84, 1),
    );
  },
);
