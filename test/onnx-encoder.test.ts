/**
 * A user's ONNX image model as histoseek's encoder (issue #26): the features and pyramid it finds
 * or is told, checked against the model's own tensors run by onnxruntime as the file has them
 * (pooled, dequantized and transposed here in JS); its preprocessing from the sidecar and the
 * options; every bad input's error; and the shared ImageNet MobileNetV2 (int8, QLinear operators).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { loadRgb, normalizeInto } from '../src/data/image.js';
import {
  onnxEncoderPrecisionProblem,
  OnnxEncoderEmbedder,
  OnnxPyramidSession,
  probeOnnxEncoder,
  readOnnxEncoder,
  sidecarPath,
  type OnnxEncoderOptions,
} from '../src/engine/onnx-encoder.js';
import type { HostTensor } from '../src/model/host-tensor.js';
import { Random } from '../src/util/random.js';
import { assertClose, ROOT, temporaryFolder } from './helpers.js';
import {
  floatModel,
  modelBytes,
  QUANT,
  quantizedModel,
  runAsIs,
  scalarInitializer,
  WIDTHS,
} from './onnx-encoder-models.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

// Sessions are cached in a folder of this file's own, removed at the end.
process.env.HISTOSEEK_CACHE_DIR = await temporaryFolder('histoseek-onnx-encoder-cache-');
const DIR = await temporaryFolder('histoseek-onnx-encoder-');
const MOBILENET = join(ROOT, '../shared/models/mobilenetv2-12-int8.onnx');
const NO_MOBILENET = existsSync(MOBILENET) ? false : `${MOBILENET} is absent (shared test model)`;

let written = 0;
/** Writes model bytes (and a sidecar) to a file of its own. */
async function modelFile(bytes: Uint8Array | string, sidecar?: unknown): Promise<string> {
  const path = join(DIR, `model${written++}.onnx`);
  await writeFile(path, bytes);
  if (sidecar !== undefined)
    await writeFile(sidecarPath(path), typeof sidecar === 'string' ? sidecar : JSON.stringify(sidecar));
  return path;
}

const FLOAT = floatModel();
const QUANTIZED = quantizedModel();
const floatFile = modelFile(FLOAT);
const quantizedFile = modelFile(QUANTIZED);

/** `n` random RGB images as histoseek feeds them: NCHW, ImageNet-normalised; and their bytes. */
function images(n: number, size: number, seed = 5): { input: HostTensor; pixels: Uint8Array[] } {
  const rng = new Random(seed);
  const plane = 3 * size * size;
  const data = new Float32Array(n * plane);
  const pixels = Array.from({ length: n }, (_, i) => {
    const px = Uint8Array.from({ length: plane }, () => rng.int(256));
    normalizeInto(px, size, data, i * plane);
    return px;
  });
  return { input: { shape: [n, 3, size, size], data }, pixels };
}

const host = (t: ort.Tensor): HostTensor => ({
  shape: t.dims.map(Number),
  data: Float32Array.from(t.data as ArrayLike<number>),
});

/** [N, C, H, W] → [N, C], the mean over H and W. */
function gap(t: HostTensor): HostTensor {
  const [n, c, h, w] = t.shape;
  const data = new Float32Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let sum = 0;
    for (let j = 0; j < h * w; j++) sum += t.data[i * h * w + j];
    data[i] = sum / (h * w);
  }
  return { shape: [n, c], data };
}

/** [N, C, H, W] → [N, H, W, C]. */
function nhwc(t: HostTensor): HostTensor {
  const [n, c, h, w] = t.shape;
  const data = new Float32Array(t.data.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++)
      for (let p = 0; p < h * w; p++) data[(b * h * w + p) * c + k] = t.data[(b * c + k) * h * w + p];
  return { shape: [n, h, w, c], data };
}

/** (q − zero point) · scale, in float32 as DequantizeLinear computes it. */
function dequantize(t: ort.Tensor, [scale, zeroPoint]: readonly [number, number]): HostTensor {
  const q = t.data as Uint8Array;
  return { shape: t.dims.map(Number), data: Float32Array.from(q, (v) => (v - zeroPoint) * Math.fround(scale)) };
}

async function embed(path: string, input: HostTensor, options: OnnxEncoderOptions = {}): Promise<HostTensor> {
  const embedder = await OnnxEncoderEmbedder.create(await readOnnxEncoder(path, options), { threads: 1 });
  try {
    return (await embedder.run(input)).get('embedding')!;
  } finally {
    await embedder.release();
  }
}

test(
  'float model: the features are the last 4-D tensor pooled, the pyramid the last tensor at each stride',
  { timeout: TIMEOUT },
  async () => {
    const spec = await readOnnxEncoder(await floatFile, { size: 64 });
    const probe = await probeOnnxEncoder(spec, 1);
    assert.equal(probe.features.name, 'gap');
    assert.equal(probe.featureDim, 20);
    assert.equal(probe.batched, true);
    assert.deepEqual(
      probe.pyramid.map(({ name, channels, stride }) => ({ name, channels, stride })),
      [
        { name: 'r2', channels: WIDTHS[1], stride: 4 },
        { name: 'r3', channels: WIDTHS[2], stride: 8 },
        { name: 'r4', channels: WIDTHS[3], stride: 16 },
        { name: 'r5', channels: WIDTHS[4], stride: 32 },
      ],
    );

    const { input } = images(3, 64);
    const expected = await runAsIs(FLOAT, 'pixels', input, ['r2', 'r3', 'r4', 'r5']);
    const embedder = await OnnxEncoderEmbedder.create(spec, { threads: 1, probe });
    assert.equal(embedder.dimensions, 20);
    assert.equal(embedder.inputSize, 64);
    assertClose((await embedder.run(input)).get('embedding')!, gap(host(expected.r5)), 'embedding', 1e-6);
    await embedder.release();

    for (const layout of ['NHWC', 'NCHW'] as const) {
      const session = await OnnxPyramidSession.create(spec, { threads: 1, probe, layout });
      assert.deepEqual(session.channels, WIDTHS.slice(1));
      const pyramid = await session.run(input);
      ['r2', 'r3', 'r4', 'r5'].forEach((name, i) => {
        const want = host(expected[name]);
        assertClose(pyramid[i], layout === 'NHWC' ? nhwc(want) : want, `${layout} ${name}`, 0);
      });
      await session.release();
    }
  },
);

test(
  'named features and pyramid tensors are the ones taken: a 4-D one pooled, a 2-D one as is',
  { timeout: TIMEOUT },
  async () => {
    const path = await floatFile;
    const { input } = images(2, 64);
    const expected = await runAsIs(FLOAT, 'pixels', input, ['r3', 'logits', 'c2', 'c3', 'c4', 'c5']);
    assertClose(await embed(path, input, { size: 64, output: 'r3' }), gap(host(expected.r3)), 'r3 pooled', 1e-6);
    assertClose(await embed(path, input, { size: 64, output: 'logits' }), host(expected.logits), 'logits', 0);

    const spec = await readOnnxEncoder(path, { size: 64, pyramid: ['c2', 'c3', 'c4', 'c5'] });
    const session = await OnnxPyramidSession.create(spec, { threads: 1, layout: 'NCHW' });
    const pyramid = await session.run(input);
    ['c2', 'c3', 'c4', 'c5'].forEach((name, i) => assertClose(pyramid[i], host(expected[name]), name, 0));
    await session.release();
  },
);

test(
  'the sidecar sets the preprocessing (BGR, its own mean and std) and the options beat it',
  { timeout: TIMEOUT },
  async () => {
    // In the model's channel order: blue first.
    const sidecar = { size: 64, channels: 'BGR', mean: [0.3, 0.5, 0.7], std: [0.2, 0.25, 0.3] };
    const path = await modelFile(FLOAT, sidecar);
    assert.equal(sidecarPath('/models/net.onnx'), '/models/net.json');
    assert.equal(sidecarPath('/models/net.v2'), '/models/net.v2.json');
    const spec = await readOnnxEncoder(path);
    assert.deepEqual(spec.preprocessing, { size: 64, channels: 'BGR', mean: [0.3, 0.5, 0.7], std: [0.2, 0.25, 0.3] });

    const size = 64;
    const plane = size * size;
    const { input, pixels } = images(2, size);
    /** The model's own input from the bytes: channel k of `order` (RGB indices), (v/255 − mean_k) / std_k. */
    const asModelWants = (order: number[], mean: readonly number[], std: readonly number[]) => {
      const data = new Float32Array(input.data.length);
      pixels.forEach((px, b) => {
        for (let k = 0; k < 3; k++)
          for (let i = 0; i < plane; i++)
            data[(b * 3 + k) * plane + i] = (px[3 * i + order[k]] / 255 - mean[k]) / std[k];
      });
      return { shape: input.shape, data };
    };
    const bgr = await runAsIs(FLOAT, 'pixels', asModelWants([2, 1, 0], sidecar.mean, sidecar.std), ['gap']);
    const got = await embed(path, input);
    assertClose(got, { shape: [2, 20], data: host(bgr.gap).data }, 'BGR embedding', 1e-5);
    // The plain model on the same images differs: the conversion is what makes them equal.
    const plain = await embed(path, input, {
      channels: 'RGB',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    const imagenet = await runAsIs(FLOAT, 'pixels', input, ['gap']);
    assertClose(plain, { shape: [2, 20], data: host(imagenet.gap).data }, 'options over the sidecar', 1e-6);
    assert.ok(Math.max(...got.data.map((v, i) => Math.abs(v - plain.data[i]))) > 0.05);

    const rgb = await readOnnxEncoder(path, { channels: 'RGB', std: [0.5, 0.5, 0.5] });
    assert.deepEqual(rgb.preprocessing, { size: 64, channels: 'RGB', mean: [0.3, 0.5, 0.7], std: [0.5, 0.5, 0.5] });
    const rgbExpected = await runAsIs(FLOAT, 'pixels', asModelWants([0, 1, 2], [0.3, 0.5, 0.7], [0.5, 0.5, 0.5]), [
      'gap',
    ]);
    assertClose(
      await embed(path, input, { channels: 'RGB', std: [0.5, 0.5, 0.5] }),
      { shape: [2, 20], data: host(rgbExpected.gap).data },
      'RGB override',
      1e-5,
    );
  },
);

test(
  'quantized model: tensors taken are dequantized with the scale of the node that reads or makes them',
  { timeout: TIMEOUT },
  async () => {
    const spec = await readOnnxEncoder(await quantizedFile, { size: 64 });
    const probe = await probeOnnxEncoder(spec, 1);
    assert.equal(probe.features.name, 'dq5');
    assert.deepEqual(
      probe.pyramid.map(({ name, type, channels, stride }) => ({ name, type, channels, stride })),
      [
        { name: 'qc2', type: 'uint8', channels: 8, stride: 4 },
        { name: 'qc3', type: 'uint8', channels: 12, stride: 8 },
        { name: 'q4', type: 'uint8', channels: 16, stride: 16 },
        { name: 'dq5', type: 'float32', channels: 20, stride: 32 },
      ],
    );
    const { input } = images(2, 64);
    const raw = await runAsIs(QUANTIZED, 'pixels', input, ['qc2', 'qc3', 'q4', 'dq5', 'qgap']);
    // The quantized values vary: not all clipped to one end.
    for (const name of ['qc2', 'qc3', 'q4', 'qgap']) assert.ok(new Set(raw[name].data as Uint8Array).size > 10, name);

    const embedder = await OnnxEncoderEmbedder.create(spec, { threads: 1, probe });
    assertClose((await embedder.run(input)).get('embedding')!, gap(host(raw.dq5)), 'GAP of dq5', 1e-6);
    await embedder.release();
    const qgap = dequantize(raw.qgap, QUANT.qgap);
    assertClose(
      await embed(spec.path, input, { size: 64, output: 'qgap' }),
      { shape: [2, 20], data: qgap.data },
      'qgap',
      0,
    );

    const session = await OnnxPyramidSession.create(spec, { threads: 1, probe });
    const pyramid = await session.run(input);
    const want = [
      dequantize(raw.qc2, QUANT.qc2),
      dequantize(raw.qc3, QUANT.qc3),
      dequantize(raw.q4, QUANT.q4),
      host(raw.dq5),
    ];
    want.forEach((t, i) => assertClose(pyramid[i], nhwc(t), `level ${i}`, 0));
    await session.release();
  },
);

test(
  'a batch fixed at 1 is opened where the graph allows it, else images run one at a time',
  { timeout: TIMEOUT },
  async () => {
    const { input } = images(3, 64);
    const oneByOne = async (path: string, options: OnnxEncoderOptions) => {
      const rows = [];
      for (let i = 0; i < 3; i++)
        rows.push(
          ...(
            await embed(
              path,
              { shape: [1, 3, 64, 64], data: input.data.subarray(i * 3 * 4096, (i + 1) * 3 * 4096) },
              options,
            )
          ).data,
        );
      return { shape: [3, 20], data: Float32Array.from(rows) };
    };

    const open = await modelFile(floatModel({ batch: 1, side: 64, opset: 20 }));
    const spec = await readOnnxEncoder(open);
    assert.equal(spec.preprocessing.size, 64, 'the size is the model input’s');
    assert.equal((await probeOnnxEncoder(spec, 1)).batched, true);
    assertClose(await embed(open, input), await oneByOne(open, {}), 'opened batch', 1e-6);

    // Reshape to [1, -1]: a batch of two would come out as one row of 40.
    const single = await modelFile(floatModel({ batch: 1, side: 64, tail: 'reshape-1' }));
    const probe = await probeOnnxEncoder(await readOnnxEncoder(single, { output: 'flat' }), 1);
    assert.equal(probe.batched, false);
    assert.equal(probe.featureDim, 20);
    const got = await embed(single, input, { output: 'flat' });
    assertClose(got, await oneByOne(single, { output: 'flat' }), 'one at a time', 0);
    const direct = await runAsIs(FLOAT, 'pixels', input, ['r5']);
    assertClose(got, gap(host(direct.r5)), 'one at a time against the model', 1e-6);
  },
);

test('the session is cached: a second embedder loads it and embeds the same', { timeout: TIMEOUT }, async () => {
  const { input } = images(2, 64);
  const first = await embed(await quantizedFile, input, { size: 64 });
  const second = await embed(await quantizedFile, input, { size: 64 });
  assertClose(second, first, 'cached', 0);
  const cached = readdirSync(join(process.env.HISTOSEEK_CACHE_DIR!, 'onnx'));
  assert.ok(
    cached.some((f) => /^onnx-[0-9a-f]{24}-64-features-[0-9a-f]{12}-[0-9a-f]{8}\.onnx$/.test(f)),
    cached.join(', '),
  );
});

test('bad files and settings get clear errors naming the file and the problem', { timeout: TIMEOUT }, async () => {
  const notOnnx = await modelFile('hello, this is not a model');
  await assert.rejects(readOnnxEncoder(notOnnx), new RegExp(`^Error: ${notOnnx}: not an ONNX file`));
  await assert.rejects(readOnnxEncoder(join(DIR, 'absent.onnx')), /absent\.onnx: cannot read the ONNX file \(ENOENT\)/);

  const conv = (input: { elemType?: number; dims: (number | string)[] }, extraInputs?: string[]) =>
    modelBytes({
      opset: 13,
      input: { name: 'x', ...input },
      extraInputs,
      nodes: [['Relu', ['x'], 'y']],
      initializers: [],
      outputs: ['y'],
    });
  const grey = await modelFile(conv({ dims: ['N', 1, 64, 64] }));
  await assert.rejects(readOnnxEncoder(grey), new RegExp(`${grey}: no image input: 'x' is float \\[N, 1, 64, 64\\]`));
  const bytes = await modelFile(conv({ elemType: 2, dims: ['N', 3, 64, 64] }));
  await assert.rejects(readOnnxEncoder(bytes), /no image input: 'x' is uint8 \[N, 3, 64, 64\]/);
  const channelsLast = await modelFile(conv({ dims: ['N', 64, 64, 3] }));
  await assert.rejects(readOnnxEncoder(channelsLast), /no image input: .* channels last is not supported/);
  const two = await modelFile(conv({ dims: ['N', 3, 64, 64] }, ['mask']));
  await assert.rejects(readOnnxEncoder(two), new RegExp(`${two}: the model takes 2 inputs \\('x', 'mask'\\)`));
  const eight = await modelFile(conv({ dims: [8, 3, 64, 64] }));
  await assert.rejects(readOnnxEncoder(eight), /takes batches of exactly 8/);
  const old = await modelFile(
    modelBytes({
      opset: 6,
      input: { name: 'x', dims: ['N', 3, 8, 8] },
      nodes: [['Relu', ['x'], 'y']],
      initializers: [],
      outputs: ['y'],
    }),
  );
  await assert.rejects(readOnnxEncoder(old), /uses ONNX opset 6; histoseek needs opset 7 or later/);

  // Sizes: a fixed input asked for another; a size the graph cannot run; one without a pyramid.
  const fixed = await modelFile(floatModel({ side: 64 }), { size: 96 });
  await assert.rejects(
    readOnnxEncoder(fixed),
    new RegExp(`${fixed}: the model takes 64×64 images, not the 96×96 asked for by "size" in .*model\\d+\\.json`),
  );
  await assert.rejects(readOnnxEncoder(fixed, { size: 32 }), /not the 32×32 asked for by the size option/);
  const tokens = await modelFile(floatModel({ tail: 'tokens' }));
  await probeOnnxEncoder(await readOnnxEncoder(tokens, { size: 64 }), 1);
  await assert.rejects(
    probeOnnxEncoder(await readOnnxEncoder(tokens, { size: 64, output: 'tokens' }), 1),
    /the output 'tokens' is \[1, 4, 20\]; features are \[N, C\] or \[N, C, H, W\]/,
  );
  await assert.rejects(
    probeOnnxEncoder(await readOnnxEncoder(tokens, { size: 96 }), 1),
    new RegExp(`${tokens}: the model cannot run on a 96×96 image \\(.*The input tensor cannot be reshaped`),
  );
  await assert.rejects(
    OnnxPyramidSession.create(await readOnnxEncoder(await floatFile, { size: 80 }), { threads: 1 }),
    /no feature pyramid at 80×80: no tensor at stride 32 \(80 is not a multiple of 32\)/,
  );

  // Names that are not tensors of the graph, or not what they are named for.
  const path = await floatFile;
  await assert.rejects(
    readOnnxEncoder(path, { output: 'nope' }),
    new RegExp(`${path}: no tensor named 'nope' \\(the output option\\)`),
  );
  const sidecarNames = await modelFile(FLOAT, { pyramid: ['r2', 'r3', 'r4', 'r6'] });
  await assert.rejects(readOnnxEncoder(sidecarNames), /no tensor named 'r6' \("pyramid" in .*model\d+\.json\)/);
  await assert.rejects(
    probeOnnxEncoder(await readOnnxEncoder(path, { size: 64, pyramid: ['r2', 'r3', 'r5', 'r4'] }), 1),
    /the pyramid tensor 'r5' is \[1, 20, 2, 2\], at stride 32; the pyramid's four tensors are feature maps at strides 4, 8, 16, 32, in that order/,
  );

  // The sidecar's fields.
  const bad: [unknown, RegExp][] = [
    ['{ "size": 64,', /not valid JSON/],
    [[1, 2], /expected a JSON object of the encoder's settings/],
    [{ sise: 64 }, /unknown key "sise" \(allowed: size, mean, std, channels, output, pyramid\)/],
    [{ size: 0 }, /"size" must be a whole number of pixels ≥ 1, got 0/],
    [{ mean: [0.5, 0.5] }, /"mean" must be three numbers, one per channel, got \[0.5,0.5\]/],
    [{ std: [0.2, 0, 0.2] }, /"std" must be three positive numbers, one per channel/],
    [{ channels: 'RGBA' }, /"channels" must be "RGB" or "BGR", got "RGBA"/],
    [{ pyramid: ['r2', 'r3', 'r4'] }, /"pyramid" must be four different tensor names, stride 4 first/],
  ];
  for (const [sidecar, message] of bad) {
    const file = await modelFile(FLOAT, sidecar);
    await assert.rejects(readOnnxEncoder(file), (err: Error) => {
      assert.match(err.message, new RegExp(`^${sidecarPath(file)}: `));
      assert.match(err.message, message);
      return true;
    });
  }
  await assert.rejects(
    readOnnxEncoder(path, { mean: [1, 2, Number.NaN] }),
    new RegExp(`${path}: the mean option must be three numbers`),
  );

  // The file changed after it was read: its identity would be wrong.
  const changing = await modelFile(FLOAT);
  const spec = await readOnnxEncoder(changing, { size: 64 });
  await copyFile(await quantizedFile, changing);
  await assert.rejects(OnnxEncoderEmbedder.create(spec, { threads: 1 }), /has changed since it was read \(SHA-256/);

  assert.match(
    onnxEncoderPrecisionProblem(spec, 'int8') ?? '',
    /--precision int8 applies to the models histoseek builds; an ONNX encoder runs as its file is/,
  );
  assert.equal(onnxEncoderPrecisionProblem(spec, 'fp32'), null);
});

test(
  'MobileNetV2 (int8): 1 280 features, the GAP of 464 dequantized; a pyramid at strides 4 to 32',
  { timeout: TIMEOUT, skip: NO_MOBILENET },
  async () => {
    const spec = await readOnnxEncoder(MOBILENET);
    assert.equal(spec.sha256, '83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f');
    assert.equal(spec.preprocessing.size, 224);
    const probe = await probeOnnxEncoder(spec, 1);
    assert.equal(probe.featureDim, 1280);
    assert.equal(probe.features.name, '627', 'the last 4-D tensor: the dequantized 7×7 map before pooling');
    assert.deepEqual(
      probe.pyramid.map(({ name, channels, stride }) => ({ name, channels, stride })),
      [
        { name: '501_quantized', channels: 144, stride: 4 },
        { name: '528_quantized', channels: 192, stride: 8 },
        { name: '591_quantized', channels: 576, stride: 16 },
        { name: '627', channels: 1280, stride: 32 },
      ],
    );

    const { input } = images(2, 224);
    const levels = ['501_quantized', '528_quantized', '591_quantized', '627'];
    const bytes = await readFile(MOBILENET);
    const raw = await runAsIs(bytes, 'input', input, ['464_quantized', ...levels]);
    /** A quantized tensor's values by its scale and zero point, as the file has them. */
    const dequantized = (name: string) => {
      const stem = name.slice(0, -'_quantized'.length);
      return dequantize(raw[name], [
        scalarInitializer(bytes, `${stem}_scale`),
        scalarInitializer(bytes, `${stem}_zero_point`),
      ]);
    };
    const pooled = dequantized('464_quantized');
    assertClose(
      await embed(MOBILENET, input, { output: '464_quantized' }),
      { shape: [2, 1280], data: pooled.data },
      '464',
      0,
    );
    // The default pools 627 in float: within half a step of 464's quantization, which rounds the same mean.
    const pooledHere = await embed(MOBILENET, input);
    const worst = Math.max(...pooledHere.data.map((v, i) => Math.abs(v - pooled.data[i])));
    assert.ok(worst <= scalarInitializer(bytes, '464_scale') / 2 + 1e-6, `GAP of 627 against 464: ${worst}`);
    assert.ok(new Set(pooled.data).size > 100, 'the features vary');

    const session = await OnnxPyramidSession.create(spec, { threads: 1, probe });
    assert.deepEqual(session.channels, [144, 192, 576, 1280]);
    const pyramid = await session.run(input);
    await session.release();
    levels.forEach((name, i) => {
      const t = name.endsWith('_quantized') ? dequantized(name) : host(raw[name]);
      assertClose(pyramid[i], nhwc(t), name, 0);
    });
  },
);

const TILE = join(ROOT, '../shared/data/nct-crc-he-samples/crc-val-he-7k/TUM/TUM-TCGA-DRHQMTQA.png');

test(
  'MobileNetV2 classifies a real H&E tile through its logits as the file itself does',
  { timeout: TIMEOUT, skip: NO_MOBILENET || (existsSync(TILE) ? false : `${TILE} is absent (shared test data)`) },
  async () => {
    const { pixels } = await loadRgb(TILE, 224);
    const data = new Float32Array(3 * 224 * 224);
    normalizeInto(pixels, 224, data, 0);
    const input = { shape: [1, 3, 224, 224], data };
    const logits = await embed(MOBILENET, input, { output: 'output' });
    assert.deepEqual(logits.shape, [1, 1000]);
    const direct = await runAsIs(await readFile(MOBILENET), 'input', input, ['output']);
    assertClose(logits, host(direct.output), 'logits', 0);
    const top = (d: ArrayLike<number>) => Array.from(d).indexOf(Math.max(...Array.from(d)));
    assert.equal(top(logits.data), top(direct.output.data as Float32Array));
    assertClose(await embed(MOBILENET, input, { output: 'output' }), logits, 'a second run', 0);
  },
);
