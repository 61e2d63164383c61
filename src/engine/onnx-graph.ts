/**
 * Builds an ONNX inference graph by running a model definition (`model/lgffem.ts`, `model/vit.ts`)
 * with an executor whose tensors are graph nodes. Each value records its layout; operations that need a
 * layout (Conv: NCHW; LayerNormalization, MatMul over channels: NHWC) insert a Transpose only when
 * the value is in the other one, so the graph holds the fewest transposes the definition allows;
 * a ViT's token sequences are [N, T, C] throughout.
 * Eval mode: BatchNorm uses running statistics, Dropout is the identity, and parameter-only
 * arithmetic (fusion weights, BatchNorm scale) is folded at build time.
 */
import type { ModelConfig } from '../model/config.js';
import type { VitArch } from '../model/encoder.js';
import type { HostTensor } from '../model/host-tensor.js';
import { lgffem, type Pyramid, type Trace } from '../model/lgffem.js';
import type { ConvSpec, Ops } from '../model/ops.js';
import { vit, type PrefixToken, type VitOps } from '../model/vit.js';
import { GraphBuilder, valueInfo, type Layout, type SerializedModel, type Value } from './onnx-builder.js';
import { EMBEDDING_NAME, INPUT_NAME, traceOutputNames } from './graph-names.js';

export type { Layout, SerializedModel, Value } from './onnx-builder.js';

/** The range of a quantised linear map's input, seen on the calibration images. */
export interface ActivationRange {
  min: number;
  max: number;
}

/**
 * int8 inference (issue #15). `calibrate` adds the input of every linear map that `layers` accepts
 * (default: all) as an output named PROBE_PREFIX + the layer; `int8` quantises statically the maps
 * `ranges` holds (the rest stay float): see integerLinear.
 */
export type Quantization =
  | { mode: 'calibrate'; layers?: (layer: string) => boolean }
  | { mode: 'int8'; ranges: ReadonlyMap<string, ActivationRange> };

export const PROBE_PREFIX = 'probe:';

/**
 * The linear maps run in int8: those of the backbone's stages 3 and 4 and of the neck's levels
 * 1–3, which carry most of the arithmetic. The rest stay float, where rounding shows in the
 * descriptor (one layer in int8 at a time, on the built-in model and unseen synthetic patches):
 * the head's act on one vector per image; the neck's level 4 (stride 32) feeds a GeM over so few
 * positions that it alone moved the worst descriptor furthest; and the backbone's first two stages
 * and the neck's channel reductions, whose rounding every later layer carries, moved descriptors
 * one to two orders of magnitude more than a layer of the later stages. Keeping those float brings
 * the int8 descriptors several times closer to fp32's and costs little speed.
 */
function lgffemQuantisable(layer: string): boolean {
  return (
    !layer.startsWith('head.') &&
    !/^neck\.\d+\.p4/.test(layer) &&
    !/^backbone\.stages\.[01]\./.test(layer) &&
    !layer.includes('_down_channel.')
  );
}

/**
 * A Linear's weight [out, in] as MatMulIntegerToFloat's right operand: int8 [in, out], one
 * symmetric scale per output (its largest |w| maps to 127). Written in bands of outputs, so that
 * each row of the result is filled in runs (a ViT-g's maps hold 12M values).
 */
function quantiseColumns(w: Float32Array, out: number, inChannels: number): { q: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let max = 0;
    for (let i = o * inChannels; i < (o + 1) * inChannels; i++) max = Math.max(max, Math.abs(w[i]));
    scales[o] = max > 0 ? max / 127 : 1;
  }
  // Int8Array truncates what it stores: rounding first keeps |q| ≤ 127.
  const q = new Int8Array(w.length);
  const BAND = 64;
  for (let o0 = 0; o0 < out; o0 += BAND) {
    const end = Math.min(o0 + BAND, out);
    for (let i = 0; i < inChannels; i++)
      for (let o = o0; o < end; o++) q[i * out + o] = Math.round(w[o * inChannels + i] / scales[o]);
  }
  return { q, scales };
}

/** Past any sequence's end: Slice clamps it. */
const TO_THE_END = Number.MAX_SAFE_INTEGER;

class OnnxOps extends GraphBuilder implements Ops<Value>, VitOps<Value> {
  /** Inputs of the quantisable linear maps, by layer, when calibrating. */
  readonly probes = new Map<string, Value>();

  constructor(
    private readonly weights: Map<string, HostTensor>,
    private readonly quantization?: Quantization,
  ) {
    super();
  }

  /**
   * x·Wᵀ (+ bias) in integers: x to uint8 over its calibrated `range` (stretched to hold 0, so zero
   * stays exact), W [out, in] to int8 with one symmetric scale per output; onnxruntime's
   * MatMulIntegerToFloat multiplies them, rescales and adds the bias in one kernel.
   */
  private integerLinear(
    x: string,
    layer: string,
    range: ActivationRange,
    weight: Float32Array,
    out: number,
    bias: string | null,
  ): string {
    const low = Math.min(range.min, 0);
    const high = Math.max(range.max, 0);
    const inputScale = high > low ? (high - low) / 255 : 1;
    const inputZero = Math.min(255, Math.max(0, Math.round(-low / inputScale)));
    const { q, scales } = quantiseColumns(weight, out, weight.length / out);
    const scale = this.constant(`${layer}.input_scale`, [], Float32Array.of(inputScale));
    const zero = this.bytes(`${layer}.input_zero`, [], Uint8Array.of(inputZero));
    return this.contribNode('MatMulIntegerToFloat', [
      this.node('QuantizeLinear', [x, scale, zero]),
      this.bytes(`${layer}.weight^T.int8`, [weight.length / out, out], q),
      scale,
      this.constant(`${layer}.weight_scale`, [out], scales),
      zero,
      this.bytes(`${layer}.weight_zero`, [out], new Int8Array(out)),
      ...(bias ? [bias] : []),
    ]);
  }

  private weight(name: string): HostTensor {
    const tensor = this.weights.get(name);
    if (!tensor) throw new Error(`the model has no tensor '${name}'`);
    return tensor;
  }

  /** A per-channel parameter shaped to broadcast against a value of `layout`. */
  private channelParam(name: string, layout: Layout, data = this.weight(name).data): string {
    const dims = layout === 'NCHW' ? [data.length, 1, 1] : [data.length];
    return this.constant(`${name}@${layout}`, dims, data);
  }

  private unary(op: string, x: Value): Value {
    return { name: this.node(op, [x.name]), layout: x.layout };
  }

  private binary(op: string, a: Value, b: Value | string): Value {
    const bName = typeof b === 'string' ? b : this.as(b, a.layout).name;
    return { name: this.node(op, [a.name, bName]), layout: a.layout };
  }

  // ------------------------------------------------------------ Ops

  conv(x: Value, name: string, s: ConvSpec): Value {
    const input = this.as(x, 'NCHW');
    const w = this.weight(`${name}.weight`);
    const inputs = [input.name, this.constant(`${name}.weight`, w.shape, w.data)];
    if (s.bias) inputs.push(this.constant(`${name}.bias`, [s.outChannels], this.weight(`${name}.bias`).data));
    const attrs = {
      kernel_shape: [s.kernel, s.kernel],
      strides: [s.stride, s.stride],
      pads: [s.pad, s.pad, s.pad, s.pad],
      group: s.depthwise ? s.outChannels : 1,
    };
    return { name: this.node('Conv', inputs, attrs), layout: 'NCHW' };
  }

  upsample2x(x: Value, name: string): Value {
    const input = this.as(x, 'NCHW');
    const w = this.weight(`${name}.weight`);
    const b = this.weight(`${name}.bias`);
    const inputs = [
      input.name,
      this.constant(`${name}.weight`, w.shape, w.data),
      this.constant(`${name}.bias`, b.shape, b.data),
    ];
    return {
      name: this.node('ConvTranspose', inputs, { kernel_shape: [2, 2], strides: [2, 2], group: w.shape[0] }),
      layout: 'NCHW',
    };
  }

  linear(x: Value, name: string, out: number, bias: boolean): Value {
    const input = this.channelsLast(x);
    const w = this.weight(`${name}.weight`);
    const inChannels = w.shape[1];
    const biasName = bias ? this.channelParam(`${name}.bias`, 'NHWC') : null;
    const range = this.quantization?.mode === 'int8' ? this.quantization.ranges.get(name) : undefined;
    if (range)
      return { name: this.integerLinear(input.name, name, range, w.data, out, biasName), layout: input.layout };
    const probed = this.quantization?.mode === 'calibrate' && (this.quantization.layers?.(name) ?? true);
    if (probed) this.probes.set(name, input);
    // onnxruntime's MatMul with B transposed reads the checkpoint's [out, in] as it is: no copy to build.
    const weight = this.constant(`${name}.weight`, [out, inChannels], w.data);
    let y = this.contribNode('FusedMatMul', [input.name, weight], { transB: 1 });
    if (biasName) y = this.node('Add', [y, biasName]);
    return { name: y, layout: input.layout };
  }

  layerNorm(x: Value, name: string): Value {
    const input = this.channelsLast(x);
    const inputs = [input.name, this.channelParam(`${name}.weight`, 'NHWC'), this.channelParam(`${name}.bias`, 'NHWC')];
    return { name: this.node('LayerNormalization', inputs, { axis: -1, epsilon: 1e-6 }), layout: input.layout };
  }

  /** x + g·(x·N(x)) + b written as x·(1 + g·N(x)) + b: the products over channels are on [N, C], two passes over x instead of four. */
  grn(x: Value, name: string, naming: 'timm' | 'neck'): Value {
    const [gain, shift] = naming === 'timm' ? ['weight', 'bias'] : ['gamma', 'beta'];
    const gx = this.node('ReduceL2', [x.name, this.ints(this.spatialAxes(x.layout))], { keepdims: 1 });
    const mean = this.node('ReduceMean', [gx, this.ints([this.channelAxis(x.layout)])], { keepdims: 1 });
    const nx = this.node('Div', [gx, this.node('Add', [mean, this.scalar(1e-6)])]);
    const factor = this.node('Add', [
      this.node('Mul', [nx, this.channelParam(`${name}.${gain}`, x.layout)]),
      this.scalar(1),
    ]);
    const scaled = this.node('Mul', [x.name, factor]);
    return { name: this.node('Add', [scaled, this.channelParam(`${name}.${shift}`, x.layout)]), layout: x.layout };
  }

  gelu(x: Value): Value {
    return this.unary('Gelu', x);
  }

  sigmoid(x: Value): Value {
    return this.unary('Sigmoid', x);
  }

  add(a: Value, b: Value): Value {
    return this.binary('Add', a, b);
  }

  /** α·x + (1−α)·x·s written as x·(α + (1−α)·s): three passes instead of four. */
  gate(x: Value, s: Value, name: string): Value {
    const alpha = this.weight(name).data[0];
    const mixed = this.binary('Add', this.binary('Mul', s, this.scalar(1 - alpha)), this.scalar(alpha));
    return this.binary('Mul', x, mixed);
  }

  fuse(terms: Value[], name: string): Value {
    const relu = Array.from(this.weight(name).data, (w) => Math.max(w, 0));
    const total = relu.reduce((a, b) => a + b, 0) + 1e-4;
    const weighted = terms.map((t, i) => this.binary('Mul', t, this.scalar(relu[i] / total)));
    return weighted.reduce((sum, t) => this.binary('Add', sum, t));
  }

  gem(x: Value, name: string): Value {
    const p = this.weight(name).data[0];
    const clamped = this.binary('Max', x, this.scalar(1e-6));
    const powered = this.binary('Pow', clamped, this.scalar(p));
    const mean = this.node('ReduceMean', [powered.name, this.ints(this.spatialAxes(x.layout))], { keepdims: 0 });
    return { name: this.node('Pow', [mean, this.scalar(1 / p)]), layout: 'NC' };
  }

  batchNorm(x: Value, name: string): Value {
    const w = this.weight(`${name}.weight`).data;
    const b = this.weight(`${name}.bias`).data;
    const mean = this.weight(`${name}.running_mean`).data;
    const variance = this.weight(`${name}.running_var`).data;
    const scale = w.map((wi, i) => wi / Math.sqrt(variance[i] + 1e-5));
    const shift = b.map((bi, i) => bi - mean[i] * scale[i]);
    const scaled = this.binary('Mul', x, this.constant(`${name}.scale`, [scale.length], scale));
    return this.binary('Add', scaled, this.constant(`${name}.shift`, [shift.length], shift));
  }

  dropout(x: Value): Value {
    return x;
  }

  l2normalize(x: Value): Value {
    const norm = this.node('ReduceL2', [x.name, this.ints([1])], { keepdims: 1 });
    return this.binary('Div', x, this.node('Max', [norm, this.scalar(1e-12)]));
  }

  concat(xs: Value[]): Value {
    return {
      name: this.node(
        'Concat',
        xs.map((v) => v.name),
        { axis: 1 },
      ),
      layout: 'NC',
    };
  }

  // ------------------------------------------------------------ VitOps

  patchTokens(x: Value): Value {
    const flat = this.node('Reshape', [this.as(x, 'NCHW').name, this.ints([0, 0, -1])]);
    return { name: this.node('Transpose', [flat], { perm: [0, 2, 1] }), layout: 'NTC' };
  }

  prependTokens(x: Value, tokens: readonly PrefixToken[]): Value {
    const batch = this.node('Shape', [x.name], { start: 0, end: 1 });
    const expanded = tokens.map(({ name, count }) => {
      const t = this.weight(name);
      const shape = this.node('Concat', [batch, this.ints([count, t.shape[2]])], { axis: 0 });
      return this.node('Expand', [this.constant(name, t.shape, t.data), shape]);
    });
    return { name: this.node('Concat', [...expanded, x.name], { axis: 1 }), layout: 'NTC' };
  }

  addPositionEmbedding(x: Value, name: string): Value {
    const p = this.weight(name);
    return this.binary('Add', x, this.constant(name, p.shape, p.data));
  }

  /** onnxruntime's MultiHeadAttention kernel on q, k, v [N, T, C] (scale 1/√(C / heads)). */
  selfAttention(qkv: Value, heads: number): Value {
    const [q, k, v] = this.nodeOutputs('Split', [qkv.name], 3, { axis: 2, num_outputs: 3 });
    return { name: this.contribNode('MultiHeadAttention', [q, k, v], { num_heads: heads }), layout: 'NTC' };
  }

  layerScale(x: Value, name: string): Value {
    return this.binary('Mul', x, this.channelParam(`${name}.gamma`, x.layout));
  }

  swiGlu(x: Value): Value {
    const [a, b] = this.nodeOutputs('Split', [x.name], 2, { axis: -1, num_outputs: 2 });
    const silu = this.node('Mul', [a, this.node('Sigmoid', [a])]);
    return { name: this.node('Mul', [silu, b]), layout: x.layout };
  }

  token(x: Value, index: number): Value {
    const picked = this.node('Gather', [x.name, this.ints([index])], { axis: 1 });
    return { name: this.node('Squeeze', [picked, this.ints([1])]), layout: 'NC' };
  }

  meanTokens(x: Value, first: number): Value {
    const rest = this.node('Slice', [x.name, this.ints([first]), this.ints([TO_THE_END]), this.ints([1])]);
    return { name: this.node('ReduceMean', [rest, this.ints([1])], { keepdims: 0 }), layout: 'NC' };
  }
}

export interface GraphInput {
  name: string;
  /** 'NCHW' or 'NHWC' for feature maps and images, 'NC' for vectors. */
  layout: Layout;
}

export type GraphBody = (ops: Ops<Value> & VitOps<Value>, inputs: Value[]) => Map<string, Value>;

type ValueInfo = ReturnType<typeof valueInfo>;

/** The graph `body` builds from the named inputs, with its outputs named, ready to serialise. */
function traceGraph(
  weights: Map<string, HostTensor>,
  inputs: GraphInput[],
  body: GraphBody,
  outputLayout: 'NCHW' | 'NHWC',
  quantization?: Quantization,
): { ops: OnnxOps; inputInfo: ValueInfo[]; outputInfo: ValueInfo[] } {
  const ops = new OnnxOps(weights, quantization);
  const outputs = body(
    ops,
    inputs.map((i) => ({ name: i.name, layout: i.layout })),
  );
  for (const [layer, value] of ops.probes) outputs.set(PROBE_PREFIX + layer, value);
  const rankDims = (name: string, rank: number) => ['N', 'C', 'H', 'W'].slice(0, rank).map((d) => `${name}_${d}`);
  const outputInfo = [...outputs].map(([name, value]) => {
    ops.output(value, name, outputLayout);
    return valueInfo(name, rankDims(name, ops.rank(value.layout)));
  });
  return { ops, inputInfo: inputs.map((i) => valueInfo(i.name, rankDims(i.name, ops.rank(i.layout)))), outputInfo };
}

/**
 * Serialises the graph that `body` builds from the named inputs. Outputs come out under the names
 * `body` gives them, feature maps in `outputLayout` (default NCHW, as the fixtures hold them);
 * all dimensions stay symbolic.
 */
export function buildOnnxGraph(
  weights: Map<string, HostTensor>,
  inputs: GraphInput[],
  body: GraphBody,
  outputLayout: 'NCHW' | 'NHWC' = 'NCHW',
  quantization?: Quantization,
): Uint8Array {
  const { ops, inputInfo, outputInfo } = traceGraph(weights, inputs, body, outputLayout, quantization);
  return ops.serialize(inputInfo, outputInfo);
}

/**
 * The whole model as ONNX: input `input` [N, 3, H, W] (normalised NCHW), output `embedding` [N, 4C];
 * with `trace`, also every backbone stage and neck layer output under the fixtures' names; with
 * `quantization`, calibration probes or the int8 model.
 */
export function buildOnnxModel(
  config: ModelConfig,
  weights: Map<string, HostTensor>,
  options: { trace?: boolean; quantization?: Quantization } = {},
): Uint8Array {
  return buildOnnxGraph(
    weights,
    [{ name: INPUT_NAME, layout: 'NCHW' }],
    (ops, [image]) => {
      const trace: Trace<Value> = { backbone: [] as unknown as Pyramid<Value>, neck: [] };
      const outputs = new Map([[EMBEDDING_NAME, lgffem(ops, image, config, trace)]]);
      if (options.trace) {
        const traced = [...trace.backbone, ...trace.neck.flat()];
        traceOutputNames(config).forEach((name, i) => outputs.set(name, traced[i]));
      }
      return outputs;
    },
    'NCHW',
    options.quantization?.mode === 'calibrate'
      ? { ...options.quantization, layers: lgffemQuantisable }
      : options.quantization,
  );
}

/**
 * A ViT as ONNX: input `input` [N, 3, S, S] (normalised NCHW), output `embedding` [N,
 * vitDescriptorSize(arch)]. `weights` are for that input (model/vit-weights.ts vitWeightsForInput:
 * pos_embed on its grid); with `quantization`, calibration probes on every linear map or the int8
 * model; with `externalFrom`, every initializer of that many bytes or more as external data (models
 * past 2 GiB).
 */
export function buildVitOnnxModel(
  arch: VitArch,
  weights: Map<string, HostTensor>,
  options: { quantization?: Quantization; externalFrom?: number } = {},
): SerializedModel {
  const body: GraphBody = (ops, [image]) => new Map([[EMBEDDING_NAME, vit(ops, image, arch)]]);
  const input = { name: INPUT_NAME, layout: 'NCHW' as const };
  const { ops, inputInfo, outputInfo } = traceGraph(weights, [input], body, 'NCHW', options.quantization);
  if (options.externalFrom !== undefined)
    return ops.serializeExternal(inputInfo, outputInfo, 'vit', options.externalFrom);
  return { model: ops.serialize(inputInfo, outputInfo, 'vit'), externalData: [] };
}
