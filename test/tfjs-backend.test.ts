import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  assertTfjsCoreVersion,
  assertWasmBackend,
  initTfjs,
  REGISTERED_KERNELS,
  TFJS_CORE_VERSION,
} from '../src/engine/tfjs-backend.js';
import { Random } from '../src/util/random.js';
import { runScript } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const TOLERANCE = 1e-4;

type Forward = (...xs: tf.Tensor[]) => tf.Tensor;

function randomTensor(shape: number[], seed: number): tf.Tensor {
  const data = new Random(seed).fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)));
  return tf.tensor(data, shape);
}

/** Runs `compute` on `backend` (then returns to wasm), copies its results out and checks it freed every buffer. */
async function runOn(backend: string, compute: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  try {
    assert.equal(tf.getBackend(), backend);
    const buffers = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const before = buffers();
    const outs = tf.tidy(compute);
    const values = outs.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(outs);
    assert.equal(buffers(), before, `${backend}: buffers leaked`);
    return values;
  } finally {
    await tf.setBackend('wasm');
  }
}

/** max |actual − expected| relative to the largest |expected|; the reference must be non-trivial. */
function assertClose(actual: Float32Array[], expected: Float32Array[], label: string): void {
  assert.equal(actual.length, expected.length, label);
  expected.forEach((ref, k) => {
    assert.equal(actual[k].length, ref.length, `${label} #${k}: length`);
    const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(scale > 0, `${label} #${k}: reference is all zeros`);
    const err = ref.reduce((m, v, i) => Math.max(m, Math.abs(actual[k][i] - v)), 0) / scale;
    assert.ok(err <= TOLERANCE, `${label} #${k}: relative error ${err.toExponential(2)} > ${TOLERANCE}`);
  });
}

/** Gradients of Σ forward(xs)·u (u random, so dy is not all ones) w.r.t. every x. */
function gradients(forward: Forward, shapes: number[][], seed: number): () => tf.Tensor[] {
  return () => {
    const xs = shapes.map((shape, k) => randomTensor(shape, seed + k));
    const loss = (...args: tf.Tensor[]) => {
      const y = forward(...args);
      return tf.sum(tf.mul(y, randomTensor(y.shape, seed + 100)));
    };
    return tf.grads(loss)(xs);
  };
}

async function assertGradsMatchCpu(label: string, forward: Forward, shapes: number[][], seed = 1): Promise<void> {
  const compute = gradients(forward, shapes, seed);
  assertClose(await runOn('wasm', compute), await runOn('cpu', compute), label);
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

function explicitPad(p: number): Pad {
  return [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
}

before(async () => {
  await initTfjs();
});

describe('initTfjs', { timeout: TIMEOUT }, () => {
  test('leaves tfjs on wasm with every kernel registered, and is idempotent', async () => {
    assert.equal(tf.getBackend(), 'wasm');
    const configs = REGISTERED_KERNELS.map((name) => tf.getKernel(name, 'wasm'));
    assert.ok(configs.every((c) => c != null));
    await initTfjs();
    assert.equal(tf.getBackend(), 'wasm');
    assert.deepEqual(
      REGISTERED_KERNELS.map((name) => tf.getKernel(name, 'wasm')),
      configs,
      'kernels re-wrapped',
    );
  });

  test('assertWasmBackend throws on the cpu backend', async () => {
    await tf.setBackend('cpu');
    try {
      assert.throws(() => assertWasmBackend(), /'cpu' backend/);
    } finally {
      await tf.setBackend('wasm');
    }
    assertWasmBackend();
  });

  test('tfjs prints nothing on stdout, even when the cpu backend is used', () => {
    const child = runScript(
      [
        "import { initTfjs } from './src/engine/tfjs-backend.ts';",
        'const tf = await initTfjs();',
        'tf.grad((x) => tf.conv2d(x, tf.ones([1, 1, 2, 2]), 1, "valid").sum())(tf.ones([1, 3, 3, 2])).dataSync();',
        "await tf.setBackend('cpu');",
        'tf.square(tf.ones([2])).dataSync();',
      ].join('\n'),
    );
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, '');
  });

  test('accepts only the tfjs-core release its kernel overrides were written for', () => {
    assert.equal(tf.version_core, TFJS_CORE_VERSION, 'package.json pins the release the overrides were written for');
    assertTfjsCoreVersion(TFJS_CORE_VERSION);
    for (const other of ['4.21.0', '4.22.1', '5.0.0', '4.22.0-rc.0']) {
      assert.throws(
        () => assertTfjsCoreVersion(other),
        {
          message: `histoseek's tfjs kernel overrides were written for @tensorflow/tfjs-core ${TFJS_CORE_VERSION}; found ${other} — install ${TFJS_CORE_VERSION}`,
        },
        other,
      );
    }
  });

  test('throws, naming what failed, when the wasm backend cannot start', () => {
    const child = runScript(
      [
        "import * as tf from '@tensorflow/tfjs';",
        "import { initTfjs, assertWasmBackend } from './src/engine/tfjs-backend.ts';",
        "tf.removeBackend('wasm');",
        "tf.registerBackend('wasm', () => { throw new Error('no wasm here'); });",
        'await initTfjs().then(() => process.exit(3), (err) => console.log(err.message));',
        'try { assertWasmBackend(); } catch (err) { console.log(err.message); }',
      ].join('\n'),
    );
    assert.equal(child.status, 0, child.stderr);
    const [initError, assertError] = child.stdout.trim().split('\n');
    assert.match(initError, /tf\.setBackend\('wasm'\) failed/);
    assert.match(assertError, /'wasm' selected but it failed to initialise/);
  });
});

describe('conv2d gradients on wasm match cpu', { timeout: TIMEOUT }, () => {
  const cases: [string, number[], number[], number, Pad][] = [
    ['1×1', [2, 5, 6, 3], [1, 1, 3, 4], 1, 'valid'],
    ['2×2 stride 2, even size', [2, 6, 8, 3], [2, 2, 3, 4], 2, 'valid'],
    ['2×2 stride 2, odd size', [2, 7, 7, 3], [2, 2, 3, 4], 2, 'valid'],
    ['4×4 stride 4 (patchify)', [1, 8, 12, 3], [4, 4, 3, 5], 4, 'valid'],
    ['3×3 pad 1', [2, 6, 5, 3], [3, 3, 3, 4], 1, explicitPad(1)],
    ['3×3 stride 2 pad 1, even size', [2, 8, 8, 3], [3, 3, 3, 4], 2, explicitPad(1)],
    ['3×3 stride 2 same, odd size', [2, 7, 7, 3], [3, 3, 3, 4], 2, 'same'],
    ['1×1 stride 2, odd size', [2, 7, 7, 3], [1, 1, 3, 4], 2, 'valid'],
    ['2×2 pad 2 (more than kernel − 1)', [1, 5, 5, 2], [2, 2, 2, 3], 1, explicitPad(2)],
  ];
  for (const [label, xShape, wShape, stride, pad] of cases) {
    test(label, () =>
      assertGradsMatchCpu(label, (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad), [
        xShape,
        wShape,
      ]),
    );
  }
});

describe('depthwiseConv2d gradients on wasm match cpu', { timeout: TIMEOUT }, () => {
  const cases: [string, number[], number, number, Pad][] = [
    ['3×3 stride 1 pad 1', [2, 6, 6, 4], 3, 1, explicitPad(1)],
    ['3×3 stride 2 pad 1, even size (8)', [2, 8, 8, 4], 3, 2, explicitPad(1)],
    ['3×3 stride 2 pad 1, odd size (7)', [2, 7, 7, 4], 3, 2, explicitPad(1)],
    ['3×3 stride 2 same, odd size (7)', [2, 7, 7, 4], 3, 2, 'same'],
    ['7×7 pad 3', [2, 9, 9, 4], 7, 1, explicitPad(3)],
    ['2×2 stride 2 valid, odd size', [1, 7, 7, 3], 2, 2, 'valid'],
    ['1×1 stride 2 valid, odd size', [1, 7, 7, 3], 1, 2, 'valid'],
  ];
  for (const [label, xShape, k, stride, pad] of cases) {
    const wShape = [k, k, xShape[3], 1];
    test(label, () =>
      assertGradsMatchCpu(label, (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad), [
        xShape,
        wShape,
      ]),
    );
  }
});

describe('matMul on wasm matches cpu for every transpose flag', { timeout: TIMEOUT }, () => {
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      const label = `transposeA=${transposeA} transposeB=${transposeB}`;
      const a = transposeA ? [7, 5] : [5, 7];
      const b = transposeB ? [6, 7] : [7, 6];
      test(`2-D ${label}: forward and gradients`, async () => {
        const forward = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, transposeA, transposeB);
        const compute = () => [forward(randomTensor(a, 1), randomTensor(b, 2))];
        assertClose(await runOn('wasm', compute), await runOn('cpu', compute), label);
        await assertGradsMatchCpu(label, forward, [a, b]);
      });
      test(`batched ${label}: gradients`, () =>
        assertGradsMatchCpu(label, (x, y) => tf.matMul(x, y, transposeA, transposeB), [
          [3, ...a],
          [3, ...b],
        ]));
      test(`fused with bias and relu ${label}: gradients`, () =>
        assertGradsMatchCpu(
          label,
          (x, y, bias) => tf.fused.matMul({ a: x, b: y, transposeA, transposeB, bias, activation: 'relu' }),
          [a, b, [6]],
        ));
    }
  }
});

describe('gradients of the ops the neck and head use match cpu', { timeout: TIMEOUT }, () => {
  const positive = (x: tf.Tensor) => tf.add(tf.abs(x), 0.5);
  const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
  const cases: [string, Forward, number[][]][] = [
    ['sigmoid', (x) => tf.sigmoid(x), [[3, 4]]],
    ['gelu (erf)', gelu, [[3, 4]]],
    ['relu', (x) => tf.relu(x), [[3, 4]]],
    ['sqrt, rsqrt', (x) => tf.add(tf.sqrt(positive(x)), tf.rsqrt(positive(x))), [[3, 4]]],
    ['square, exp, log', (x) => tf.add(tf.square(x), tf.add(tf.exp(x), tf.log(positive(x)))), [[3, 4]]],
    ['pow (GeM) with a broadcast exponent', (x, p) => tf.pow(positive(x), positive(p)), [[2, 3, 4], [1]]],
    [
      'add, sub, mul, div with broadcasting',
      (a, b) => tf.div(tf.mul(tf.sub(a, b), tf.add(a, b)), positive(b)),
      [[2, 3, 4], [4]],
    ],
    [
      'maximum, minimum with broadcasting',
      (a, b) => tf.add(tf.maximum(a, b), tf.minimum(a, b)),
      [
        [3, 4],
        [1, 4],
      ],
    ],
    ['mean and sum over axes', (x) => tf.add(tf.mean(x, [1, 2]), tf.sum(x, [1, 2])), [[2, 3, 4, 5]]],
    ['reshape, transpose', (x) => tf.transpose(tf.reshape(x, [6, 4])), [[2, 3, 4]]],
    [
      'concat, slice',
      (a, b) => tf.slice(tf.concat([a, b], 1), [0, 1], [2, 4]),
      [
        [2, 3],
        [2, 4],
      ],
    ],
    [
      'tile, broadcastTo',
      (x) => tf.add(tf.reshape(tf.tile(x, [2, 1]), [2, 3, 4]), tf.broadcastTo(x, [2, 3, 4])),
      [[3, 4]],
    ],
    [
      'layer norm',
      (x) => tf.div(tf.sub(x, tf.mean(x, -1, true)), tf.sqrt(tf.add(tf.moments(x, -1, true).variance, 1e-6))),
      [[4, 8]],
    ],
  ];
  for (const [label, forward, shapes] of cases) test(label, () => assertGradsMatchCpu(label, forward, shapes));
});

describe('broadcasting gradients of maximum, minimum, squaredDifference', { timeout: TIMEOUT }, () => {
  test('match the analytic values (tfjs-core 4.22 throws here)', async () => {
    const a = [
      [1, 5, -2],
      [3, 0, 4],
    ];
    const b = [[2, 1, 4]];
    const [maxA, maxB, minA, minB, sqA, sqB] = await runOn('wasm', () => [
      ...tf.grads((x, y) => tf.sum(tf.maximum(x, y)))([tf.tensor(a), tf.tensor(b)]),
      ...tf.grads((x, y) => tf.sum(tf.minimum(x, y)))([tf.tensor(a), tf.tensor(b)]),
      ...tf.grads((x, y) => tf.sum(tf.squaredDifference(x, y)))([tf.tensor(a), tf.tensor(b)]),
    ]);
    assert.deepEqual([...maxA], [0, 1, 0, 1, 0, 1]);
    assert.deepEqual([...maxB], [1, 1, 1]);
    assert.deepEqual([...minA], [1, 0, 1, 0, 1, 1]); // ties go to a, as in tfjs
    assert.deepEqual([...minB], [1, 1, 0]);
    assert.deepEqual([...sqA], [-2, 8, -12, 2, -2, 0]);
    assert.deepEqual([...sqB], [0, -6, 12]);
  });
});

describe('a small network (conv 1×1 → depthwise 3×3 → sigmoid gate → mean)', { timeout: TIMEOUT }, () => {
  const network: Forward = (x, w1, wd) => {
    const h = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'valid');
    const d = tf.depthwiseConv2d(h, wd as tf.Tensor4D, 1, 'same');
    return tf.mean(tf.mul(h, tf.sigmoid(d)), [1, 2]);
  };
  const shapes = [
    [2, 8, 8, 6],
    [1, 1, 6, 8],
    [3, 3, 8, 1],
  ];

  test('has gradients matching cpu', () => assertGradsMatchCpu('network', network, shapes));

  test('does not grow memory over 5 repeated gradient calls', () => {
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const step = () => tf.dispose(tf.tidy(gradients(network, shapes, 7)));
    step();
    const start = { ...tf.memory(), dataIds: backend.numDataIds() };
    for (let i = 0; i < 5; i++) step();
    const end = { ...tf.memory(), dataIds: backend.numDataIds() };
    assert.equal(end.numTensors, start.numTensors);
    assert.equal(end.numBytes, start.numBytes);
    assert.equal(end.dataIds, start.dataIds, 'wasm buffers leaked inside kernels');
  });
});

describe('Sum as a matMul with ones, Identity and Cast sharing buffers', { timeout: TIMEOUT }, () => {
  const cases: [string, number[], number[], boolean][] = [
    ['leading axes', [2, 5, 6, 7], [0, 1, 2], false],
    ['leading axes, keepDims', [2, 5, 6, 7], [0, 1, 2], true],
    ['first axis', [9, 4], [0], false],
    ['inner axes after a batch axis', [3, 5, 6, 7], [1, 2], true],
    ['negative axes', [3, 5, 6, 7], [-3, -2], false],
    ['last axis (original kernel)', [3, 5, 7], [2], false],
    ['non-contiguous axes (original kernel)', [3, 5, 7], [0, 2], false],
  ];
  for (const [label, shape, axes, keepDims] of cases) {
    test(`sum over ${label} matches cpu`, async () => {
      const compute = () => [tf.sum(randomTensor(shape, 3), axes, keepDims)];
      const [wasm] = await runOn('wasm', compute);
      const [cpu] = await runOn('cpu', compute);
      assertClose([wasm], [cpu], label);
      const shapeOf = await runOn('wasm', () => [tf.tensor1d(tf.sum(randomTensor(shape, 3), axes, keepDims).shape)]);
      const cpuShape = await runOn('cpu', () => [tf.tensor1d(tf.sum(randomTensor(shape, 3), axes, keepDims).shape)]);
      assert.deepEqual([...shapeOf[0]], [...cpuShape[0]]);
    });
  }

  test('a clone or same-dtype cast shares the buffer and survives disposing the original', () => {
    const x = tf.tensor([1.5, -2, 3]);
    const copy = x.clone();
    const cast = tf.cast(x, 'float32');
    const asInt = tf.cast(x, 'int32');
    x.dispose();
    assert.deepEqual([...copy.dataSync()], [1.5, -2, 3]);
    assert.deepEqual([...cast.dataSync()], [1.5, -2, 3]);
    assert.deepEqual([...asInt.dataSync()], [1, -2, 3]);
    tf.dispose([copy, cast, asInt]);
  });
});
