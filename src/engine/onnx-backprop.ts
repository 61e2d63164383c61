/**
 * The differentiable executor of the model definition on onnxruntime. It runs `model/lgffem.ts`'s
 * neck and head into an ONNX graph whose parameters are graph inputs (in the training layouts of
 * `training-layout.ts`), and records each operation's vector–Jacobian product on a tape; `backward`
 * then appends the backward pass to the graph. `training-graphs.ts` builds the graphs a training
 * step and a Grad-CAM++ explanation run from it.
 *
 * Only what the neck and head use is differentiable here: the backbone is frozen, so its features
 * come in as constants. Feature maps are square and their sizes known when the graph is built (only
 * the batch is free), so every reshape and transposed convolution is exact.
 */
import type { ConvSpec, Ops } from '../model/ops.js';
import { GraphBuilder, type Layout, type Value } from './onnx-builder.js';

/** A feature map with its static side and channel count; a vector (layout NC) has size 1. */
export interface MapValue extends Value {
  size: number;
  channels: number;
}

export interface BackpropOptions {
  /** BatchNorm on batch statistics and Dropout from mask inputs (else running statistics and the identity). */
  training: boolean;
  /** Whether `backward` computes parameter gradients (a Grad-CAM++ graph wants only the activations'). */
  parameterGradients: boolean;
}

/** A Dropout's mask input [N, channels]: 0 where an element drops, 1/(1 − rate) elsewhere. */
export interface DropoutMask {
  name: string;
  channels: number;
  rate: number;
}

/** A BatchNorm's statistics over the batch, as graph values: the mean and the unbiased variance (PyTorch's running_var). */
export interface BatchStatisticsNodes {
  module: string;
  mean: string;
  variance: string;
}

const REDUCE_NHW = [0, 1, 2];
const REDUCE_NHW_NCHW = [0, 2, 3];
/** The floor of Σx² under a norm's square root: F.normalize's 1e-12 on the norm, with a zero gradient below it. */
const NORM_FLOOR_SQUARED = 1e-24;

export class BackpropOps extends GraphBuilder implements Ops<MapValue> {
  private readonly tape: (() => void)[] = [];
  /** Gradient contributions to each value, by value name, in the layout they were computed in. */
  private readonly contributions = new Map<string, Value[]>();
  private readonly paramContributions = new Map<string, string[]>();
  /** Values no gradient flows into (the backbone features). */
  private readonly noGradient = new Set<string>();
  readonly usedParams = new Set<string>();
  /** Graph inputs read without a gradient: BatchNorm running statistics. */
  readonly usedBuffers = new Set<string>();
  /** Dropout mask inputs, in the order the model applies them. */
  readonly dropoutMasks: DropoutMask[] = [];
  readonly batchStatistics: BatchStatisticsNodes[] = [];

  constructor(
    private readonly paramShapes: ReadonlyMap<string, number[]>,
    private readonly options: BackpropOptions,
  ) {
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

  private buffer(name: string): string {
    if (!this.paramShapes.has(name)) throw new Error(`the training graph has no buffer '${name}'`);
    this.usedBuffers.add(name);
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

  /** Adds a parameter's gradient term, built only when parameter gradients are wanted. */
  private accumulateParam(name: string, gradient: () => string): void {
    if (!this.options.parameterGradients) return;
    const list = this.paramContributions.get(name) ?? [];
    list.push(gradient());
    this.paramContributions.set(name, list);
  }

  private sum(names: string[]): string {
    return names.length === 1 ? names[0] : this.node('Sum', names);
  }

  /** The summed gradient reaching x so far, in x's layout (complete once `backward` has run). */
  gradientOf(x: Value): string | undefined {
    const list = this.contributions.get(x.name);
    return list && this.sum(list.map((g) => this.as(g, x.layout).name));
  }

  /** Runs the tape backwards; returns each used parameter's gradient (none without `parameterGradients`). */
  backward(): Map<string, string> {
    for (let i = this.tape.length - 1; i >= 0; i--) this.tape[i]();
    if (!this.options.parameterGradients) return new Map();
    return new Map(
      [...this.usedParams].map((name) => {
        const list = this.paramContributions.get(name);
        if (!list) throw new Error(`no gradient reaches '${name}'`);
        return [name, this.sum(list)];
      }),
    );
  }

  /**
   * A copy of x that the rest of the graph reads instead of x: the gradient reaching the copy is the
   * partial derivative by x as an input to what follows, without the paths from x's other consumers.
   */
  boundary(x: MapValue): MapValue {
    const y = this.mapValue(x, this.node('Identity', [x.name]));
    return this.track(y, (dy) => this.accumulate(x, dy, x.layout));
  }

  // ------------------------------------------------------------ helpers

  reduceSum(x: string, axes: number[] | null, keepdims = 0): string {
    return axes
      ? this.node('ReduceSum', [x, this.ints(axes)], { keepdims })
      : this.node('ReduceSum', [x], { keepdims });
  }

  reduceMean(x: string, axes: number[], keepdims = 0): string {
    return this.node('ReduceMean', [x, this.ints(axes)], { keepdims });
  }

  reshape(x: string, shape: number[]): string {
    return this.node('Reshape', [x, this.ints(shape)]);
  }

  /**
   * Σ over every element, as a [1] tensor (the shape of scalar parameters), summed in float64: a
   * scalar's gradient sums a whole map's terms, which largely cancel (GeM's exponent, the gates).
   */
  private total(x: string): string {
    const sum = this.reduceSum(this.node('Cast', [x], { to: 11 }), null);
    return this.reshape(this.node('Cast', [sum], { to: 1 }), [1]);
  }

  mul(a: string, b: string): string {
    return this.node('Mul', [a, b]);
  }

  div(a: string, b: string): string {
    return this.node('Div', [a, b]);
  }

  sub(a: string, b: string): string {
    return this.node('Sub', [a, b]);
  }

  /** √(max(Σx², floor)) over `axes`, kept: the norm F.normalize divides by. */
  safeNorm(x: string, axes: number[]): string {
    return this.node('Sqrt', [
      this.node('Max', [this.reduceSum(this.mul(x, x), axes, 1), this.scalar(NORM_FLOOR_SQUARED)]),
    ]);
  }

  /** The batch size of x as a float scalar (the batch is free in these graphs). */
  batchSize(x: string): string {
    const shape = this.node('Shape', [x]);
    return this.node('Cast', [this.node('Gather', [shape, this.ints([0])])], { to: 1 });
  }

  /** The axes a per-channel reduction sums over: every axis but the channels'. */
  private channelSumAxes(x: Value): number[] {
    return x.layout === 'NC' ? [0] : x.layout === 'NCHW' ? REDUCE_NHW_NCHW : REDUCE_NHW;
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

  /** A feature map's channels-last layout, a vector's own. */
  private channelsLastLayout(x: Value): Layout {
    return x.layout === 'NC' ? 'NC' : 'NHWC';
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
      this.accumulateParam(`${name}.weight`, () => {
        const padded =
          pad > 0 ? this.node('Pad', [input.name, this.ints([0, 0, pad, pad, 0, 0, pad, pad])]) : input.name;
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
        return this.reshape(this.node('Concat', taps, { axis: 0 }), [k, k, 1, x.channels]);
      });
      if (s.bias) this.accumulateParam(`${name}.bias`, () => this.reduceSum(dy, REDUCE_NHW_NCHW));
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
      this.accumulateParam(`${name}.weight`, () => {
        // Each input pixel feeds a 2×2 block: pair them up by reshaping.
        const blocks = this.mul(this.reshape(dy, [-1, c, h, 2, h, 2]), this.reshape(input.name, [-1, c, h, 1, h, 1]));
        const perTap = this.node('Transpose', [this.reduceSum(blocks, [0, 2, 4])], { perm: [1, 2, 0] }); // [C, 2, 2] → [2, 2, C]
        return this.reshape(perTap, [2, 2, 1, c]);
      });
      this.accumulateParam(`${name}.bias`, () => this.reduceSum(dy, REDUCE_NHW_NCHW));
    });
  }

  linear(x: MapValue, name: string, outChannels: number, bias: boolean, pointwiseConv = false): MapValue {
    const input = this.as(x, 'NHWC');
    const inChannels = x.channels;
    const param = this.param(`${name}.weight`);
    const weight = pointwiseConv ? this.reshape(param, [inChannels, outChannels]) : param; // [1, 1, in, out] → [in, out]
    let out = this.node('MatMul', [input.name, weight]);
    if (bias) out = this.node('Add', [out, this.param(`${name}.bias`)]);
    const y = this.mapValue(x, out, this.channelsLastLayout(x), x.size, outChannels);
    return this.track(y, (dy) => {
      if (this.flowsInto(x))
        this.accumulate(x, this.node('MatMul', [dy, this.node('Transpose', [weight], { perm: [1, 0] })]), y.layout);
      this.accumulateParam(`${name}.weight`, () => {
        const dw = this.node(
          'Gemm',
          [this.reshape(input.name, [-1, inChannels]), this.reshape(dy, [-1, outChannels])],
          { transA: 1 },
        );
        return pointwiseConv ? this.reshape(dw, [1, 1, inChannels, outChannels]) : dw;
      });
      if (bias) this.accumulateParam(`${name}.bias`, () => this.reduceSum(dy, this.channelSumAxes(y)));
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
      const normalised = this.mul(this.sub(input.name, mean), invStd);
      this.accumulateParam(`${name}.weight`, () => this.reduceSum(this.mul(dy, normalised), REDUCE_NHW));
      this.accumulateParam(`${name}.bias`, () => this.reduceSum(dy, REDUCE_NHW));
      const g = this.mul(dy, gamma);
      const meanG = this.reduceMean(g, [3], 1);
      const meanGx = this.reduceMean(this.mul(g, normalised), [3], 1);
      const centred = this.sub(this.sub(g, meanG), this.mul(normalised, meanGx));
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
    const denominator = this.node('Add', [this.reduceMean(norms, [3], 1), this.scalar(1e-6)]);
    const relative = this.div(norms, denominator);
    const response = this.mul(input.name, relative);
    const out = this.node('Add', [
      this.node('Add', [this.mul(response, gain), this.reshape(this.param(shiftName), [c])]),
      input.name,
    ]);
    return this.track(this.mapValue(x, out, 'NHWC'), (dy) => {
      const shape = this.paramShapes.get(gainName)!;
      this.accumulateParam(gainName, () => this.reshape(this.reduceSum(this.mul(dy, response), REDUCE_NHW), shape));
      this.accumulateParam(shiftName, () => this.reshape(this.reduceSum(dy, REDUCE_NHW), shape));
      const gainDy = this.mul(dy, gain);
      const direct = this.node('Add', [dy, this.mul(gainDy, relative)]);
      // relative = norms / (mean over channels of norms + ε): through the quotient, then the L2 norm.
      const dRelative = this.reduceSum(this.mul(gainDy, input.name), [1, 2], 1);
      const throughMean = this.div(
        this.reduceSum(this.mul(dRelative, norms), [3], 1),
        this.mul(this.mul(denominator, denominator), this.scalar(c)),
      );
      const dNorms = this.sub(this.div(dRelative, denominator), throughMean);
      const throughNorm = this.mul(input.name, this.div(dNorms, this.node('Max', [norms, this.scalar(1e-12)])));
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
      const slope = this.mul(y.name, this.sub(this.scalar(1), y.name));
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
    const complement = this.sub(this.scalar(1), alpha);
    const factor = this.node('Add', [alpha, this.mul(complement, gateInput.name)]); // α + (1−α)·s
    return this.track(this.mapValue(x, this.mul(x.name, factor)), (dy) => {
      this.accumulate(x, this.mul(dy, factor), x.layout);
      const dyX = this.mul(dy, x.name);
      this.accumulate(s, this.mul(dyX, complement), x.layout);
      this.accumulateParam(name, () => this.total(this.sub(dyX, this.mul(dyX, gateInput.name))));
    });
  }

  fuse(terms: MapValue[], name: string): MapValue {
    const layout = terms[0].layout;
    const inputs = terms.map((t) => this.as(t, layout).name);
    const w = this.param(name);
    const positive = this.node('Relu', [w]);
    const denominator = this.node('Add', [this.reduceSum(positive, null), this.scalar(1e-4)]);
    const coefficients = this.div(positive, denominator);
    const coefficient = inputs.map((_, i) => this.node('Slice', [coefficients, this.ints([i]), this.ints([i + 1])]));
    const y = this.mapValue(terms[0], this.sum(inputs.map((t, i) => this.mul(t, coefficient[i]))));
    return this.track(y, (dy) => {
      terms.forEach((t, i) => this.accumulate(t, this.mul(dy, coefficient[i]), layout));
      // Through cᵢ = rᵢ / (Σr + ε) and r = ReLU(w): ∂L/∂rᵢ = (Σ dy·tᵢ − Σⱼ cⱼ·Σ dy·tⱼ) / (Σr + ε),
      // and Σⱼ cⱼ·tⱼ = y, so ∂L/∂rᵢ = Σ dy·(tᵢ − y) / (Σr + ε).
      this.accumulateParam(name, () => {
        const differences = inputs.map((t) => this.total(this.mul(dy, this.sub(t, y.name))));
        const dPositive = this.div(this.node('Concat', differences, { axis: 0 }), denominator);
        const active = this.node('Cast', [this.node('Greater', [w, this.scalar(0)])], { to: 1 });
        return this.mul(dPositive, active);
      });
    });
  }

  gem(x: MapValue, name: string): MapValue {
    // x^p as exp(p·log x), with x clamped at 1e-6 as the reference does.
    const input = this.as(x, 'NHWC');
    const p = this.param(name);
    const positive = this.node('Greater', [input.name, this.scalar(1e-6)]);
    const clamped = this.node('Max', [input.name, this.scalar(1e-6)]);
    const logX = this.node('Log', [clamped]);
    const powered = this.node('Exp', [this.mul(logX, p)]);
    const pooled = this.reduceMean(powered, [1, 2]); // [N, C]
    const logPooled = this.node('Log', [pooled]);
    const y = this.mapValue(x, this.node('Exp', [this.div(logPooled, p)]), 'NC', 1);
    return this.track(y, (dy) => {
      // y = pooled^(1/p): through the root, then the mean of the powers.
      const dyY = this.mul(dy, y.name);
      const dPooled = this.div(dyY, this.mul(pooled, p));
      const dPowered = this.reshape(this.div(dPooled, this.scalar(x.size * x.size)), [-1, 1, 1, x.channels]);
      const poweredDy = this.mul(dPowered, powered);
      const gate = this.node('Cast', [positive], { to: 1 });
      this.accumulate(x, this.mul(this.div(this.mul(poweredDy, p), clamped), gate), 'NHWC');
      this.accumulateParam(name, () =>
        this.node('Add', [
          this.total(this.mul(poweredDy, logX)),
          this.total(this.div(this.node('Neg', [this.mul(dyY, logPooled)]), this.mul(p, p))),
        ]),
      );
    });
  }

  batchNorm(x: MapValue, name: string): MapValue {
    const gamma = this.param(`${name}.weight`);
    const beta = this.param(`${name}.bias`);
    const eps = this.scalar(1e-5);
    if (!this.options.training) {
      const mean = this.buffer(`${name}.running_mean`);
      const invStd = this.node('Reciprocal', [
        this.node('Sqrt', [this.node('Add', [this.buffer(`${name}.running_var`), eps])]),
      ]);
      const normalised = this.mul(this.sub(x.name, mean), invStd);
      const y = this.mapValue(x, this.node('Add', [this.mul(normalised, gamma), beta]));
      return this.track(y, (dy) => {
        this.accumulate(x, this.mul(dy, this.mul(gamma, invStd)), 'NC');
        this.accumulateParam(`${name}.weight`, () => this.reduceSum(this.mul(dy, normalised), [0]));
        this.accumulateParam(`${name}.bias`, () => this.reduceSum(dy, [0]));
      });
    }
    const mean = this.reduceMean(x.name, [0]);
    const centred = this.sub(x.name, mean);
    const variance = this.reduceMean(this.mul(centred, centred), [0]);
    const invStd = this.node('Reciprocal', [this.node('Sqrt', [this.node('Add', [variance, eps])])]);
    const normalised = this.mul(centred, invStd);
    const n = this.batchSize(x.name);
    const bessel = this.div(n, this.node('Max', [this.sub(n, this.scalar(1)), this.scalar(1)]));
    this.batchStatistics.push({ module: name, mean, variance: this.mul(variance, bessel) });
    const y = this.mapValue(x, this.node('Add', [this.mul(normalised, gamma), beta]));
    return this.track(y, (dy) => {
      this.accumulateParam(`${name}.weight`, () => this.reduceSum(this.mul(dy, normalised), [0]));
      this.accumulateParam(`${name}.bias`, () => this.reduceSum(dy, [0]));
      // Batch statistics depend on x too: dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)), g = dy.
      const meanDy = this.reduceMean(dy, [0]);
      const meanDyX = this.reduceMean(this.mul(dy, normalised), [0]);
      const inner = this.sub(this.sub(dy, meanDy), this.mul(normalised, meanDyX));
      this.accumulate(x, this.mul(inner, this.mul(gamma, invStd)), 'NC');
    });
  }

  dropout(x: MapValue, rate: number): MapValue {
    if (!this.options.training || rate === 0) return x;
    // Inverted dropout: the mask (0 or 1/(1−rate)) is an input, drawn by the caller's seeded generator.
    const mask = `dropout${this.dropoutMasks.length}`;
    this.dropoutMasks.push({ name: mask, channels: x.channels, rate });
    const y = this.mapValue(x, this.mul(x.name, mask));
    return this.track(y, (dy) => this.accumulate(x, this.mul(dy, mask), 'NC'));
  }

  l2normalize(x: MapValue): MapValue {
    const norm = this.safeNorm(x.name, [1]);
    const y = this.mapValue(x, this.div(x.name, norm));
    return this.track(y, (dy) => {
      const along = this.reduceSum(this.mul(dy, y.name), [1], 1);
      this.accumulate(x, this.div(this.sub(dy, this.mul(y.name, along)), norm), 'NC');
    });
  }

  concat(xs: MapValue[]): MapValue {
    const channels = xs.reduce((sum, x) => sum + x.channels, 0);
    const y: MapValue = {
      name: this.node(
        'Concat',
        xs.map((x) => x.name),
        { axis: 1 },
      ),
      layout: 'NC',
      size: 1,
      channels,
    };
    return this.track(y, (dy) => {
      let start = 0;
      for (const x of xs) {
        const part = this.node('Slice', [dy, this.ints([start]), this.ints([start + x.channels]), this.ints([1])]);
        this.accumulate(x, part, 'NC');
        start += x.channels;
      }
    });
  }
}
