/**
 * The one place that sets up tfjs for histoseek's training and Grad-CAM (the LGFFEM neck and head run on tfjs
 * with gradients; inference runs on onnxruntime elsewhere).
 *
 * - Backend: wasm (SIMD, one thread in Node). The pure-JS 'cpu' backend is 15–60× slower, so nothing may fall
 *   back to it silently: initTfjs and assertWasmBackend throw instead.
 * - tfjs-backend-wasm 4.22 lacks Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput and
 *   DepthwiseConv2dNativeBackpropFilter; they are composed here from wasm kernels.
 * - Replaced for speed: wasm's matMul with transpose flags runs ~10× slower than without, and every matMul gradient
 *   sets them; its Conv2DBackpropInput is a plain loop ~10× slower than a forward conv or matMul.
 * - tfjs-core 4.22's gradients of Maximum, Minimum and SquaredDifference forget to sum over broadcast axes
 *   (maximum(x[3,4], y[1,4]) throws in backprop on every backend); they are replaced with correct ones.
 *
 * The overrides lean on tfjs-core's kernel names, attributes and gradient bugs of one release, so initTfjs refuses
 * any other (package.json pins it exactly).
 *
 * tfjs writes its warnings (including the cpu backend's "looks like you are running TensorFlow.js in Node.js"
 * banner) with console.warn, i.e. to stderr, so stdout stays free for a CLI's JSON.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const WASM = 'wasm';

/** The @tensorflow/tfjs-core release the kernel and gradient overrides below were written and tested against. */
export const TFJS_CORE_VERSION = '4.22.0';

type Info = tf.TensorInfo;
type Pads = [before: number, after: number];

/** Names of the kernels this module registers (for tests/docs). */
export const REGISTERED_KERNELS: readonly string[] = [
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'Identity',
  'Cast',
  'Sum',
];

let registered = false;

/**
 * Initialise tfjs on the wasm backend once (idempotent), register the missing/faster kernels, and verify the
 * active backend is 'wasm'; throw a clear error otherwise (naming what failed). Returns tf.
 */
export async function initTfjs(): Promise<typeof tf> {
  assertTfjsCoreVersion(tf.version_core);
  await selectWasmBackend();
  if (!registered) {
    registerKernels();
    registerBroadcastingGradients();
    registered = true;
  }
  assertWasmBackend();
  return tf;
}

/** Throws if the active backend is not wasm (call before any heavy work). */
export function assertWasmBackend(): void {
  const active = tf.getBackend();
  if (active !== WASM) {
    throw new Error(
      `tfjs is running on the '${active}' backend, not 'wasm' (the cpu backend is 15–60× slower); call initTfjs() first`,
    );
  }
  // engine.registry holds initialised backends only (findBackend would start initialising one).
  if (tf.engine().registry[WASM] == null) {
    throw new Error("tfjs has 'wasm' selected but it failed to initialise; initTfjs() reports why");
  }
  if (!registered) {
    throw new Error("tfjs is on 'wasm' but initTfjs() has not registered its gradient and matMul kernels");
  }
}

/** Throws, naming the release to install, unless `found` is the tfjs-core release the overrides were written for. */
export function assertTfjsCoreVersion(found: string): void {
  if (found !== TFJS_CORE_VERSION) {
    throw new Error(
      `histoseek's tfjs kernel overrides were written for @tensorflow/tfjs-core ${TFJS_CORE_VERSION}; found ${found} — ` +
        `install ${TFJS_CORE_VERSION}`,
    );
  }
}

async function selectWasmBackend(): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(WASM);
  } catch (err) {
    throw new Error(`initTfjs: the tfjs 'wasm' backend is not registered (${(err as Error).message})`, { cause: err });
  }
  if (!ok) {
    throw new Error(
      "initTfjs: tf.setBackend('wasm') failed to initialise the wasm backend (tfjs printed the reason on stderr); " +
        'check that @tensorflow/tfjs-backend-wasm and its .wasm files are installed',
    );
  }
  await tf.ready();
}

function registerKernels(): void {
  replaceKernel('BatchMatMul', transposeFirst);
  replaceKernel('_FusedMatMul', transposeFirst);
  replaceKernel('Conv2DBackpropInput', conv2dBackpropInput);
  addKernel('Conv2DBackpropFilter', conv2dBackpropFilter);
  addKernel('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput);
  addKernel('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter);
  replaceKernel('Identity', shareData);
  replaceKernel('Cast', shareData);
  replaceKernel('Sum', sumByMatMul);
}

function wasmKernel(name: string): tf.KernelConfig {
  const config = tf.getKernel(name, WASM);
  if (config == null) throw new Error(`tfjs wasm backend has no '${name}' kernel`);
  return config;
}

function addKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  tf.registerKernel({ kernelName, backendName: WASM, kernelFunc });
}

/** Re-registers a wasm kernel as `make(original)`; the original's setupFunc is kept so its wasm bindings get set. */
function replaceKernel(name: string, make: (original: tf.KernelConfig) => tf.KernelFunc): void {
  const original = wasmKernel(name);
  tf.unregisterKernel(name, WASM);
  tf.registerKernel({ ...original, kernelFunc: make(original) });
}

// ---------------------------------------------------------------------------------------------------------------
// Running wasm kernels inside a kernel

/** Runs wasm kernels from inside a kernel and frees the intermediates it made (a kernel's leaks are invisible to tidy). */
class KernelScope {
  private readonly made = new Set<Info>();

  constructor(readonly backend: tf.KernelBackend) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap | Info[], attrs: tf.NamedAttrMap = {}): Info {
    const params = { inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs };
    const out = wasmKernel(kernelName).kernelFunc(params) as Info;
    this.made.add(out);
    return out;
  }

  /** Runs `body` in a child scope whose intermediates are freed at once; its result moves to this scope. */
  nested(body: (scope: KernelScope) => Info): Info {
    return withScope(this.backend, body, (result) => this.made.add(result));
  }

  owns(info: Info): boolean {
    return this.made.has(info);
  }

  disposeAllBut(keep: Info | undefined): void {
    for (const info of this.made) if (info !== keep) this.backend.disposeData(info.dataId);
  }

  /** A new float32 tensor whose values `write` sets (zero-initialised). */
  filled(shape: number[], write: (values: Float32Array) => void): Info {
    const backend = this.backend as unknown as {
      makeOutput(shape: number[], dtype: string): Info;
      typedArrayFromHeap(t: Info): Float32Array;
    };
    const out = backend.makeOutput(shape, 'float32');
    const values = backend.typedArrayFromHeap(out);
    values.fill(0);
    write(values);
    this.made.add(out);
    return out;
  }

  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }

  matMul(a: Info, b: Info, transposeA = false, transposeB = false): Info {
    return this.run('BatchMatMul', { a, b }, { transposeA, transposeB });
  }

  pad(x: Info, paddings: Pads[]): Info {
    return paddings.every(([b, a]) => b === 0 && a === 0)
      ? x
      : this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }
}

/** Runs `body` with a fresh scope and frees everything it made except the result (also when it throws). */
function withScope(backend: unknown, body: (scope: KernelScope) => Info, adopt?: (result: Info) => void): Info {
  const scope = new KernelScope(backend as tf.KernelBackend);
  let result: Info | undefined;
  try {
    result = body(scope);
    if (adopt && scope.owns(result)) adopt(result);
    return result;
  } finally {
    scope.disposeAllBut(result);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// matMul: explicit transposes

function swapLastTwo(rank: number): number[] {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

/** Runs a matMul kernel without transpose flags (wasm's flagged path is ~10× slower) by transposing first. */
function transposeFirst(original: tf.KernelConfig): tf.KernelFunc {
  return ({ inputs, backend, attrs }) =>
    withScope(backend, (s) => {
      const { a, b } = inputs as { a: Info; b: Info };
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const a2 = transposeA ? s.transpose(a, swapLastTwo(a.shape.length)) : a;
      const b2 = transposeB ? s.transpose(b, swapLastTwo(b.shape.length)) : b;
      return original.kernelFunc({
        inputs: { ...inputs, a: a2, b: b2 },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      }) as Info;
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Copies and reductions that gradients issue by the thousand

/**
 * Identity, and Cast to the same dtype, share the input's buffer (as the cpu backend and wasm's own
 * Reshape do) instead of copying it: tensors are immutable, and gradients clone and cast constantly.
 */
function shareData(original: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: Info };
    const dtype = (args.attrs as { dtype?: tf.DataType } | undefined)?.dtype ?? x.dtype;
    if (x.dtype === 'string' || dtype !== x.dtype) return original.kernelFunc(args);
    (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * Sums over leading axes ([0..k)) or inner-leading axes ([1..k), one batch axis before them) as a
 * matMul with a row of ones: wasm's Sum first transposes the reduced axes to the end, ~20× slower
 * for the broadcast-gradient reductions (bias, LayerNorm, GRN) that training issues.
 */
function sumByMatMul(original: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: Info };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort(
      (a, b) => a - b,
    );
    const first = axes[0];
    const contiguous = axes.every((a, i) => a === first + i);
    const last = axes[axes.length - 1];
    if (x.dtype !== 'float32' || !contiguous || first > 1 || last === rank - 1) return original.kernelFunc(args);
    const size = (dims: number[]) => dims.reduce((p, d) => p * d, 1);
    const batch = size(x.shape.slice(0, first));
    const reduced = size(x.shape.slice(first, last + 1));
    const rest = size(x.shape.slice(last + 1));
    const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d)).filter((d, i) => keepDims || !axes.includes(i));
    return withScope(args.backend, (s) => {
      // One 2-D matMul with a block-diagonal [batch, batch·reduced] matrix of ones: wasm's batched
      // matMul with a single row per batch is 2–4× slower than this.
      const blocks = s.filled([batch, batch * reduced], (values) => {
        for (let b = 0; b < batch; b++) values.fill(1, b * (batch + 1) * reduced, (b * (batch + 1) + 1) * reduced);
      });
      const product = s.matMul(blocks, s.reshape(x, [batch * reduced, rest]));
      return s.reshape(product, outShape);
    });
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Convolution gradients (NHWC, dilation 1 — tfjs' conv gradients refuse other dilations anyway)

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
}

type Shape4 = [number, number, number, number];

function convInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs, depthwise: boolean) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error('wasm conv gradient kernels support dilation 1 only');
  }
  return info;
}

type ConvInfo = ReturnType<typeof convInfo>;

function requireChannelsLast(attrs: ConvAttrs, kernel: string): void {
  if (attrs.dataFormat === 'NCHW') throw new Error(`${kernel} on wasm supports NHWC only`);
}

function requireMultiplierOne(filterShape: number[], kernel: string): void {
  if (filterShape[3] !== 1) throw new Error(`${kernel} on wasm supports channel multiplier 1 only`);
}

/** A conv whose kernel equals its stride and that has no padding (1×1 stride 1, patchify) is a matMul. */
function isPatchConv(info: ConvInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  return (
    info.filterHeight === info.strideHeight &&
    info.filterWidth === info.strideWidth &&
    top === 0 &&
    bottom === 0 &&
    left === 0 &&
    right === 0
  );
}

function conv2dBackpropInput(original: tf.KernelConfig): tf.KernelFunc {
  return (params) => {
    const attrs = params.attrs as unknown as ConvAttrs & { inputShape: number[] };
    if (attrs.dataFormat === 'NCHW') return original.kernelFunc(params);
    const { dy, filter } = params.inputs as { dy: Info; filter: Info };
    const info = convInfo(attrs.inputShape, filter.shape, attrs, false);
    return withScope(params.backend, (s) =>
      isPatchConv(info)
        ? patchConvInputGrad(s, dy, filter, info)
        : inputGradByConv(s, dy, flipConvFilter(s, filter), info, 'Conv2D'),
    );
  };
}

const conv2dBackpropFilter: tf.KernelFunc = (params) => {
  const attrs = params.attrs as unknown as ConvAttrs & { filterShape: number[] };
  requireChannelsLast(attrs, 'Conv2DBackpropFilter');
  const { x, dy } = params.inputs as { x: Info; dy: Info };
  const info = convInfo(x.shape, attrs.filterShape, attrs, false);
  return withScope(params.backend, (s) => convFilterGrad(s, x, dy, info));
};

const depthwiseBackpropInput: tf.KernelFunc = (params) => {
  const attrs = params.attrs as unknown as ConvAttrs & { inputShape: number[] };
  const { dy, filter } = params.inputs as { dy: Info; filter: Info };
  requireMultiplierOne(filter.shape, 'DepthwiseConv2dNativeBackpropInput');
  const info = convInfo(attrs.inputShape, filter.shape, attrs, true);
  return withScope(params.backend, (s) => {
    const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    return inputGradByConv(s, dy, flipped, info, 'DepthwiseConv2dNative');
  });
};

const depthwiseBackpropFilter: tf.KernelFunc = (params) => {
  const attrs = params.attrs as unknown as ConvAttrs & { filterShape: number[] };
  requireMultiplierOne(attrs.filterShape, 'DepthwiseConv2dNativeBackpropFilter');
  const { x, dy } = params.inputs as { x: Info; dy: Info };
  const info = convInfo(x.shape, attrs.filterShape, attrs, true);
  return withScope(params.backend, (s) => depthwiseFilterGrad(s, x, dy, info));
};

/** [kh, kw, in, out] → spatially flipped [kh, kw, out, in]: the filter of the transposed convolution. */
function flipConvFilter(s: KernelScope, filter: Info): Info {
  return s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
}

/**
 * dx as a stride-1 forward conv (fast on wasm) of dy, zero-dilated by the stride, with the flipped filter.
 * Per axis, dx[h] = Σ_j d[h + j − before]·w[k−1−j], so d gets `before` = k−1−padStart rows in front and enough
 * behind to give exactly `inSize` outputs; a negative amount means rows of dy that reach no input are dropped.
 */
function inputGradByConv(s: KernelScope, dy: Info, flipped: Info, info: ConvInfo, conv: string): Info {
  const dilated = dilate(s, dy, info.strideHeight, info.strideWidth);
  const rows = transposedPads(info.inHeight, info.filterHeight, info.padInfo.top, dilated.shape[1]);
  const cols = transposedPads(info.inWidth, info.filterWidth, info.padInfo.left, dilated.shape[2]);
  const x = padOrCrop(s, dilated, rows, cols);
  return s.run(conv, { x, filter: flipped }, { strides: [1, 1], dilations: [1, 1], pad: 'valid', dataFormat: 'NHWC' });
}

function transposedPads(inSize: number, filterSize: number, padStart: number, dilatedSize: number): Pads {
  const before = filterSize - 1 - padStart;
  return [before, inSize + filterSize - 1 - before - dilatedSize];
}

/** Inserts stride−1 zeros after every row and column of dy: [n, h, w, c] → [n, h·sh, w·sw, c]. */
function dilate(s: KernelScope, dy: Info, sh: number, sw: number): Info {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const spread = s.reshape(dy, [n, h, 1, w, 1, c]);
  const padded = s.pad(spread, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return s.reshape(padded, [n, h * sh, w * sw, c]);
}

/** Adds zero rows/columns of NHWC x where an amount is positive and removes them where it is negative. */
function padOrCrop(s: KernelScope, x: Info, rows: Pads, cols: Pads): Info {
  const cut = (p: Pads): Pads => [Math.max(-p[0], 0), Math.max(-p[1], 0)];
  const grow = (p: Pads): Pads => [Math.max(p[0], 0), Math.max(p[1], 0)];
  const [[top, bottom], [left, right]] = [cut(rows), cut(cols)];
  const [n, h, w, c] = x.shape;
  const cropped =
    top + bottom + left + right === 0
      ? x
      : s.run('Slice', { x }, { begin: [0, top, left, 0], size: [n, h - top - bottom, w - left - right, c] });
  return s.pad(cropped, [[0, 0], grow(rows), grow(cols), [0, 0]]);
}

/** x padded as the conv pads it, then cut or zero-extended to exactly `rows` × `cols` positions. */
function paddedInput(s: KernelScope, x: Info, info: ConvInfo, rows: number, cols: number): Info {
  const { top, left } = info.padInfo;
  return padOrCrop(s, x, [top, rows - top - info.inHeight], [left, cols - left - info.inWidth]);
}

/** dx of a patch conv: dy·Wᵀ gives every patch's gradient, then depth-to-space puts the patches back. */
function patchConvInputGrad(s: KernelScope, dy: Info, filter: Info, info: ConvInfo): Info {
  const { batchSize: n, outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { inChannels: c, outChannels: o } = info;
  const w2d = s.reshape(filter, [kh * kw * c, o]);
  const patches = s.matMul(s.reshape(dy, [n * oh * ow, o]), w2d, false, true);
  // [n·oh, ow, kh, kw·c] → [n·oh, kh, ow, kw·c]: rank 4, as wasm transposes rank > 4 slowly (a no-op for 1×1).
  const ordered = s.transpose(s.reshape(patches, [n * oh, ow, kh, kw * c]), [0, 2, 1, 3]);
  const image = s.reshape(ordered, [n, oh * kh, ow * kw, c]);
  // Trailing rows/columns that no patch covered get zero gradient.
  return s.pad(image, [
    [0, 0],
    [0, info.inHeight - oh * kh],
    [0, info.inWidth - ow * kw],
    [0, 0],
  ]);
}

/**
 * dW[i, j] = window(i, j)ᵀ·dy, one matMul per tap. Strided slices are slow on wasm, so padded x is split once into
 * stride phases, channels first: [sh·sw, C·N, Hq, Wq] with row oh·sh + i at phase i mod sh, row oh + ⌊i/sh⌋.
 * Each tap's window is then a plain slice that is already the [C, positions] operand. Everything stays at rank ≤ 4:
 * wasm transposes and slices higher ranks element by element.
 */
function convFilterGrad(s: KernelScope, x: Info, dy: Info, info: ConvInfo): Info {
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inChannels: c, batchSize: n } = info;
  const hq = oh + Math.floor((info.filterHeight - 1) / sh);
  const wq = ow + Math.floor((info.filterWidth - 1) / sw);
  const fitted = paddedInput(s, x, info, hq * sh, wq * sw);
  const channelsFirst = s.transpose(fitted, [3, 0, 1, 2]);
  const split = s.transpose(s.reshape(channelsFirst, [c * n * hq, sh, wq, sw]), [1, 3, 0, 2]);
  const phases = s.reshape(split, [sh * sw, c * n, hq, wq]);
  const dy2d = s.reshape(dy, [n * oh * ow, info.outChannels]);
  const taps: Info[] = [];
  for (let i = 0; i < info.filterHeight; i++) {
    for (let j = 0; j < info.filterWidth; j++) {
      const begin = [(i % sh) * sw + (j % sw), 0, Math.floor(i / sh), Math.floor(j / sw)];
      const size = [1, c * n, oh, ow];
      const whole = size.every((d, k) => d === phases.shape[k]);
      taps.push(
        s.nested((t) => {
          const window = whole ? phases : t.run('Slice', { x: phases }, { begin, size });
          return t.matMul(t.reshape(window, [c, n * oh * ow]), dy2d);
        }),
      );
    }
  }
  const stacked = taps.length === 1 ? taps[0] : s.run('Concat', taps, { axis: 0 });
  return s.reshape(stacked, info.filterShape);
}

/**
 * dW[i, j, c] = Σ_{n,oh,ow} xpad[n, oh·s + i, ow·s + j, c]·dy[n, oh, ow, c] is itself a depthwise conv: of padded x
 * with the batch folded into the channels, by dy as an OH×OW filter dilated by the stride. One such conv is
 * 2–14× faster on wasm than k² slice-multiply-sums.
 */
function depthwiseFilterGrad(s: KernelScope, x: Info, dy: Info, info: ConvInfo): Info {
  const { batchSize: n, inChannels: c, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const rows = (oh - 1) * sh + info.filterHeight;
  const cols = (ow - 1) * sw + info.filterWidth;
  const input = s.reshape(s.transpose(paddedInput(s, x, info, rows, cols), [1, 2, 0, 3]), [1, rows, cols, n * c]);
  const filter = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * c, 1]);
  const attrs = { strides: [1, 1], dilations: [sh, sw], pad: 'valid', dataFormat: 'NHWC' };
  const perImage = s.run('DepthwiseConv2dNative', { x: input, filter }, attrs);
  const kk = info.filterHeight * info.filterWidth;
  const summed = s.run('Sum', { x: s.reshape(perImage, [kk, n, c]) }, { axis: [1], keepDims: false });
  return s.reshape(summed, info.filterShape);
}

// ---------------------------------------------------------------------------------------------------------------
// Gradients of broadcasting binary ops

function sumToShape(grad: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, grad.shape);
  return axes.length > 0 ? tf.reshape(tf.sum(grad, axes), shape) : grad;
}

/** ∂op/∂a or ∂op/∂b, elementwise at the broadcast shape. */
type LocalDerivative = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

function broadcastingGradient(kernelName: string, dA: LocalDerivative, dB: LocalDerivative): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const g = dy as tf.Tensor;
      return {
        a: () => sumToShape(tf.mul(g, dA(a, b)), a.shape),
        b: () => sumToShape(tf.mul(g, dB(a, b)), b.shape),
      };
    },
  };
}

function registerBroadcastingGradients(): void {
  const mask = (t: tf.Tensor) => tf.cast(t, 'float32');
  const gradients = [
    broadcastingGradient(
      'Maximum',
      (a, b) => mask(tf.greaterEqual(a, b)),
      (a, b) => mask(tf.less(a, b)),
    ),
    broadcastingGradient(
      'Minimum',
      (a, b) => mask(tf.lessEqual(a, b)),
      (a, b) => mask(tf.greater(a, b)),
    ),
    broadcastingGradient(
      'SquaredDifference',
      (a, b) => tf.mul(2, tf.sub(a, b)),
      (a, b) => tf.mul(2, tf.sub(b, a)),
    ),
  ];
  for (const gradient of gradients) tf.registerGradient(gradient);
}
