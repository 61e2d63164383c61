/**
 * The training executor of the model definition on onnxruntime. It runs the neck of
 * `model/lgffem.ts` into an ONNX graph whose parameters are graph inputs (in the tfjs layouts the
 * trainer keeps them in), and records each operation's vector–Jacobian product on a tape; a gradient
 * graph then holds the backward pass after the forward one: given the neck outputs' gradients, it
 * returns every parameter's. onnxruntime's multithreaded kernels thus do the work that
 * single-threaded tfjs-wasm did (bench/train-step.ts).
 *
 * Only what the neck uses is differentiable here (samples are independent in it, so micro-batches
 * change nothing); the head — BatchNorm over the whole batch, dropout, the loss — trains on tfjs.
 * Feature maps are square and their sizes known when the graph is built (only the batch is free),
 * so every reshape and transposed convolution is exact.
 */
import { pyramidDims, type ModelConfig } from '../model/config.js';
import { neck, type Pyramid } from '../model/lgffem.js';
import type { ConvSpec, Ops } from '../model/ops.js';
import { GraphBuilder, valueInfo, type Layout, type Value } from './onnx-builder.js';

/** A feature map with its static side and channel count. */
export interface MapValue extends Value {
  size: number;
  channels: number;
}

const REDUCE_NHW = [0, 1, 2];
const REDUCE_NHW_NCHW = [0, 2, 3];

class BackpropOps extends GraphBuilder implements Ops<MapValue> {
  private readonly tape: (() => void)[] = [];
  /** Gradient contributions to each value, by value name, in the layout they were computed in. */
  private readonly contributions = new Map<string, Value[]>();
  private readonly paramContributions = new Map<string, string[]>();
  /** Values no gradient flows into (the backbone features). */
  private readonly noGradient = new Set<string>();
  readonly usedParams = new Set<string>();

  constructor(private readonly paramShapes: Map<string, number[]>) {
    super();
  }

  // ------------------------------------------------------------ tape

  markConstant(x: Value): void {
    this.noGradient.add(x.name);
  }

  param(name: string): string {
    if (!this.paramShapes.has(name)) throw new Error(`the training graph has no parameter '${name}'`);
    this.usedParams.add(name);
    return name;
  }

  /** Records `backward`, run with y's summed gradient (in y's layout) once every consumer of y has contributed. */
  private track(y: MapValue, backward: (dy: string) => void): MapValue {
    this.tape.push(() => {
      const dy = this.gradientOf(y);
      if (dy) backward(dy);
    });
    return y;
  }

  /** Whether a gradient flows into x (not for the backbone features): no need to compute one otherwise. */
  private flowsInto(x: Value): boolean {
    return !this.noGradient.has(x.name);
  }

  accumulate(x: Value, gradient: string, layout: Layout): void {
    if (!this.flowsInto(x)) return;
    const list = this.contributions.get(x.name) ?? [];
    list.push({ name: gradient, layout });
    this.contributions.set(x.name, list);
  }

  private accumulateParam(name: string, gradient: string): void {
    const list = this.paramContributions.get(name) ?? [];
    list.push(gradient);
    this.paramContributions.set(name, list);
  }

  private sum(names: string[]): string {
    return names.length === 1 ? names[0] : this.node('Sum', names);
  }

  private gradientOf(x: Value): string | undefined {
    const list = this.contributions.get(x.name);
    return list && this.sum(list.map((g) => this.as(g, x.layout).name));
  }

  /** Runs the tape backwards; returns each used parameter's gradient. */
  backward(): Map<string, string> {
    for (let i = this.tape.length - 1; i >= 0; i--) this.tape[i]();
    return new Map(
      [...this.usedParams].map((name) => {
        const list = this.paramContributions.get(name);
        if (!list) throw new Error(`no gradient reaches '${name}'`);
        return [name, this.sum(list)];
      }),
    );
  }

  // ------------------------------------------------------------ helpers

  private reduceSum(x: string, axes: number[] | null, keepdims = 0): string {
    return axes
      ? this.node('ReduceSum', [x, this.ints(axes)], { keepdims })
      : this.node('ReduceSum', [x], { keepdims });
  }

  private reshape(x: string, shape: number[]): string {
    return this.node('Reshape', [x, this.ints(shape)]);
  }

  /** Σ over every element, as a [1] tensor (the shape of scalar parameters). */
  private total(x: string): string {
    return this.reshape(this.reduceSum(x, null), [1]);
  }

  private mul(a: string, b: string): string {
    return this.node('Mul', [a, b]);
  }

  private mapValue(
    x: MapValue,
    name: string,
    layout: Layout = x.layout,
    size = x.size,
    channels = x.channels,
  ): MapValue {
    return { name, layout, size, channels };
  }

  // ------------------------------------------------------------ Ops

  conv(x: MapValue, name: string, s: ConvSpec): MapValue {
    if (!s.depthwise)
      throw new Error(`${name}: the training graph differentiates depthwise convolutions only (the neck's)`);
    const input = this.as(x, 'NCHW');
    const { kernel: k, stride, pad } = s;
    const weight = this.node('Transpose', [this.param(`${name}.weight`)], { perm: [3, 2, 0, 1] }); // HWIO [k, k, 1, C] → [C, 1, k, k]
    const attrs = { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group: x.channels };
    const size = Math.floor((x.size + 2 * pad - k) / stride) + 1;
    const inputs = s.bias ? [input.name, weight, this.param(`${name}.bias`)] : [input.name, weight];
    const y = this.mapValue(x, this.node('Conv', inputs, attrs), 'NCHW', size);
    return this.track(y, (dy) => {
      const outputPadding = x.size + 2 * pad - k - stride * (size - 1);
      this.accumulate(
        x,
        this.node('ConvTranspose', [dy, weight], { ...attrs, output_padding: [outputPadding, outputPadding] }),
        'NCHW',
      );
      // ∂L/∂w[c, i, j] = Σ dy · (x padded, shifted by (i, j), strided): one product per tap.
      const padded = pad > 0 ? this.node('Pad', [input.name, this.ints([0, 0, pad, pad, 0, 0, pad, pad])]) : input.name;
      const taps: string[] = [];
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) {
          const end = (start: number) => start + stride * (size - 1) + 1;
          const shifted = this.node('Slice', [
            padded,
            this.ints([i, j]),
            this.ints([end(i), end(j)]),
            this.ints([2, 3]),
            this.ints([stride, stride]),
          ]);
          taps.push(this.reduceSum(this.mul(shifted, dy), REDUCE_NHW_NCHW));
        }
      }
      this.accumulateParam(
        `${name}.weight`,
        this.reshape(this.node('Concat', taps, { axis: 0 }), [k, k, 1, x.channels]),
      );
      if (s.bias) this.accumulateParam(`${name}.bias`, this.reduceSum(dy, REDUCE_NHW_NCHW));
    });
  }

  upsample2x(x: MapValue, name: string): MapValue {
    const input = this.as(x, 'NCHW');
    const c = x.channels;
    const h = x.size;
    const weight = this.node('Transpose', [this.param(`${name}.weight`)], { perm: [3, 2, 0, 1] }); // [2, 2, 1, C] → [C, 1, 2, 2]
    const attrs = { kernel_shape: [2, 2], strides: [2, 2], group: c };
    const y = this.mapValue(
      x,
      this.node('ConvTranspose', [input.name, weight, this.param(`${name}.bias`)], attrs),
      'NCHW',
      2 * h,
    );
    return this.track(y, (dy) => {
      this.accumulate(x, this.node('Conv', [dy, weight], attrs), 'NCHW');
      // Each input pixel feeds a 2×2 block: pair them up by reshaping.
      const blocks = this.mul(this.reshape(dy, [-1, c, h, 2, h, 2]), this.reshape(input.name, [-1, c, h, 1, h, 1]));
      const perTap = this.node('Transpose', [this.reduceSum(blocks, [0, 2, 4])], { perm: [1, 2, 0] }); // [C, 2, 2] → [2, 2, C]
      this.accumulateParam(`${name}.weight`, this.reshape(perTap, [2, 2, 1, c]));
      this.accumulateParam(`${name}.bias`, this.reduceSum(dy, REDUCE_NHW_NCHW));
    });
  }

  linear(x: MapValue, name: string, outChannels: number, bias: boolean, pointwiseConv = false): MapValue {
    const input = this.as(x, 'NHWC');
    const inChannels = x.channels;
    const param = this.param(`${name}.weight`);
    const weight = pointwiseConv ? this.reshape(param, [inChannels, outChannels]) : param; // [1, 1, in, out] → [in, out]
    let out = this.node('MatMul', [input.name, weight]);
    if (bias) out = this.node('Add', [out, this.param(`${name}.bias`)]);
    const y = this.mapValue(x, out, 'NHWC', x.size, outChannels);
    return this.track(y, (dy) => {
      if (this.flowsInto(x))
        this.accumulate(x, this.node('MatMul', [dy, this.node('Transpose', [weight], { perm: [1, 0] })]), 'NHWC');
      const dw = this.node('Gemm', [this.reshape(input.name, [-1, inChannels]), this.reshape(dy, [-1, outChannels])], {
        transA: 1,
      });
      this.accumulateParam(`${name}.weight`, pointwiseConv ? this.reshape(dw, [1, 1, inChannels, outChannels]) : dw);
      if (bias) this.accumulateParam(`${name}.bias`, this.reduceSum(dy, REDUCE_NHW));
    });
  }

  layerNorm(x: MapValue, name: string): MapValue {
    const input = this.as(x, 'NHWC');
    const gamma = this.param(`${name}.weight`);
    const [out, mean, invStd] = this.nodeOutputs(
      'LayerNormalization',
      [input.name, gamma, this.param(`${name}.bias`)],
      3,
      { axis: -1, epsilon: 1e-6 },
    );
    return this.track(this.mapValue(x, out, 'NHWC'), (dy) => {
      const normalised = this.mul(this.node('Sub', [input.name, mean]), invStd);
      this.accumulateParam(`${name}.weight`, this.reduceSum(this.mul(dy, normalised), REDUCE_NHW));
      this.accumulateParam(`${name}.bias`, this.reduceSum(dy, REDUCE_NHW));
      const g = this.mul(dy, gamma);
      const meanG = this.node('ReduceMean', [g, this.ints([3])], { keepdims: 1 });
      const meanGx = this.node('ReduceMean', [this.mul(g, normalised), this.ints([3])], { keepdims: 1 });
      const centred = this.node('Sub', [this.node('Sub', [g, meanG]), this.mul(normalised, meanGx)]);
      this.accumulate(x, this.mul(centred, invStd), 'NHWC');
    });
  }

  grn(x: MapValue, name: string, naming: 'timm' | 'neck'): MapValue {
    const [gainName, shiftName] =
      naming === 'timm' ? [`${name}.weight`, `${name}.bias`] : [`${name}.gamma`, `${name}.beta`];
    const input = this.as(x, 'NHWC');
    const c = x.channels;
    const gain = this.reshape(this.param(gainName), [c]);
    const norms = this.node('ReduceL2', [input.name, this.ints([1, 2])], { keepdims: 1 }); // [N, 1, 1, C]
    const denominator = this.node('Add', [
      this.node('ReduceMean', [norms, this.ints([3])], { keepdims: 1 }),
      this.scalar(1e-6),
    ]);
    const relative = this.node('Div', [norms, denominator]);
    const response = this.mul(input.name, relative);
    const out = this.node('Add', [
      this.node('Add', [this.mul(response, gain), this.reshape(this.param(shiftName), [c])]),
      input.name,
    ]);
    return this.track(this.mapValue(x, out, 'NHWC'), (dy) => {
      const shape = this.paramShapes.get(gainName)!;
      this.accumulateParam(gainName, this.reshape(this.reduceSum(this.mul(dy, response), REDUCE_NHW), shape));
      this.accumulateParam(shiftName, this.reshape(this.reduceSum(dy, REDUCE_NHW), shape));
      const gainDy = this.mul(dy, gain);
      const direct = this.node('Add', [dy, this.mul(gainDy, relative)]);
      // relative = norms / (mean over channels of norms + ε): through the quotient, then the L2 norm.
      const dRelative = this.reduceSum(this.mul(gainDy, input.name), [1, 2], 1);
      const throughMean = this.node('Div', [
        this.reduceSum(this.mul(dRelative, norms), [3], 1),
        this.mul(this.mul(denominator, denominator), this.scalar(c)),
      ]);
      const dNorms = this.node('Sub', [this.node('Div', [dRelative, denominator]), throughMean]);
      const throughNorm = this.mul(
        input.name,
        this.node('Div', [dNorms, this.node('Max', [norms, this.scalar(1e-12)])]),
      );
      this.accumulate(x, this.node('Add', [direct, throughNorm]), 'NHWC');
    });
  }

  gelu(x: MapValue): MapValue {
    return this.track(this.mapValue(x, this.node('Gelu', [x.name])), (dy) => {
      // GELU'(x) = Φ(x) + x·φ(x)
      const cdf = this.mul(
        this.node('Add', [this.node('Erf', [this.mul(x.name, this.scalar(Math.SQRT1_2))]), this.scalar(1)]),
        this.scalar(0.5),
      );
      const pdf = this.mul(
        this.node('Exp', [this.mul(this.mul(x.name, x.name), this.scalar(-0.5))]),
        this.scalar(1 / Math.sqrt(2 * Math.PI)),
      );
      this.accumulate(x, this.mul(dy, this.node('Add', [cdf, this.mul(x.name, pdf)])), x.layout);
    });
  }

  sigmoid(x: MapValue): MapValue {
    const y = this.mapValue(x, this.node('Sigmoid', [x.name]));
    return this.track(y, (dy) => {
      const slope = this.mul(y.name, this.node('Sub', [this.scalar(1), y.name]));
      this.accumulate(x, this.mul(dy, slope), x.layout);
    });
  }

  add(a: MapValue, b: MapValue): MapValue {
    const y = this.mapValue(a, this.node('Add', [a.name, this.as(b, a.layout).name]));
    return this.track(y, (dy) => {
      this.accumulate(a, dy, a.layout);
      this.accumulate(b, dy, a.layout);
    });
  }

  gate(x: MapValue, s: MapValue, name: string): MapValue {
    const gateInput = this.as(s, x.layout);
    const alpha = this.param(name);
    const complement = this.node('Sub', [this.scalar(1), alpha]);
    const factor = this.node('Add', [alpha, this.mul(complement, gateInput.name)]); // α + (1−α)·s
    return this.track(this.mapValue(x, this.mul(x.name, factor)), (dy) => {
      this.accumulate(x, this.mul(dy, factor), x.layout);
      const dyX = this.mul(dy, x.name);
      this.accumulate(s, this.mul(dyX, complement), x.layout);
      this.accumulateParam(name, this.total(this.node('Sub', [dyX, this.mul(dyX, gateInput.name)])));
    });
  }

  fuse(terms: MapValue[], name: string): MapValue {
    const layout = terms[0].layout;
    const inputs = terms.map((t) => this.as(t, layout).name);
    const w = this.param(name);
    const positive = this.node('Relu', [w]);
    const denominator = this.node('Add', [this.reduceSum(positive, null), this.scalar(1e-4)]);
    const coefficients = this.node('Div', [positive, denominator]);
    const coefficient = inputs.map((_, i) => this.node('Slice', [coefficients, this.ints([i]), this.ints([i + 1])]));
    const y = this.mapValue(terms[0], this.sum(inputs.map((t, i) => this.mul(t, coefficient[i]))));
    return this.track(y, (dy) => {
      terms.forEach((t, i) => this.accumulate(t, this.mul(dy, coefficient[i]), layout));
      // ∂L/∂cᵢ = Σ dy·tᵢ; through cᵢ = rᵢ / (Σr + ε) and r = ReLU(w).
      const dCoefficients = this.node(
        'Concat',
        inputs.map((t) => this.total(this.mul(dy, t))),
        { axis: 0 },
      );
      const dot = this.reduceSum(this.mul(dCoefficients, coefficients), null);
      const dPositive = this.node('Div', [this.node('Sub', [dCoefficients, dot]), denominator]);
      const active = this.node('Cast', [this.node('Greater', [w, this.scalar(0)])], { to: 1 });
      this.accumulateParam(name, this.mul(dPositive, active));
    });
  }

  private headOnly(op: string): never {
    throw new Error(`${op}: not differentiable in the onnxruntime training graph (the head trains on tfjs)`);
  }

  gem(): MapValue {
    return this.headOnly('gem');
  }

  batchNorm(): MapValue {
    return this.headOnly('batchNorm');
  }

  dropout(): MapValue {
    return this.headOnly('dropout');
  }

  l2normalize(): MapValue {
    return this.headOnly('l2normalize');
  }

  concat(): MapValue {
    return this.headOnly('concat');
  }
}

export const featureName = (level: number) => `stage${level}`;
export const outputGradientName = (level: number) => `dy${level}`;
export const neckOutputName = (level: number) => `neck${level}`;
export const gradientName = (param: string) => `${param}.grad`;

/**
 * The neck for backbone features `stage0..3` (NHWC, batch free, sides fixed by the input size) and
 * parameters fed as inputs under their own names (tfjs layouts). Forward: outputs `neck0..3` (NHWC).
 * With `gradient`: inputs `dy0..3` too (the outputs' gradients) and outputs `<param>.grad` instead.
 */
export function buildNeckTrainingGraph(
  config: ModelConfig,
  paramShapes: Map<string, number[]>,
  gradient: boolean,
): Uint8Array {
  const ops = new BackpropOps(paramShapes);
  const dims = pyramidDims(config);
  const side = (level: number) => config.inputSize / 2 ** (level + 2);
  const levelShape = (level: number, channels: number) => ['N', side(level), side(level), channels];
  const features = [0, 1, 2, 3].map((level) => {
    const x: MapValue = { name: featureName(level), layout: 'NHWC', size: side(level), channels: dims[level] };
    ops.markConstant(x);
    return x;
  });
  const outputs = neck(ops, features as Pyramid<MapValue>, config);
  const inputs = features.map((x, level) => valueInfo(x.name, levelShape(level, x.channels)));
  const paramInputs = () => [...ops.usedParams].map((name) => valueInfo(name, paramShapes.get(name)!));
  if (!gradient) {
    outputs.forEach((y, level) => ops.output(y, neckOutputName(level), 'NHWC'));
    const outputInfo = outputs.map((y, level) => valueInfo(neckOutputName(level), levelShape(level, y.channels)));
    return ops.serialize([...inputs, ...paramInputs()], outputInfo, 'lgffem-neck');
  }
  outputs.forEach((y, level) => {
    const dy: Value = { name: outputGradientName(level), layout: 'NHWC' };
    inputs.push(valueInfo(dy.name, levelShape(level, y.channels)));
    ops.accumulate(y, dy.name, dy.layout);
  });
  const grads = ops.backward();
  const outputInfo = [...grads].map(([name, g]) => {
    ops.nodes.push({ opType: 'Identity', input: [g], output: [gradientName(name)], name: gradientName(name) });
    return valueInfo(gradientName(name), paramShapes.get(name)!);
  });
  return ops.serialize([...inputs, ...paramInputs()], outputInfo, 'lgffem-neck-gradient');
}
