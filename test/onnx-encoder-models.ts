/**
 * Small ONNX image models written for the ONNX encoder tests: five 3×3 convolutions at strides
 * 2, 4, 8, 16 and 32 — float, or quantized with QLinearConv — and a helper that runs any model
 * as it is with chosen tensors as its outputs, the reference the encoder is checked against.
 */
import onnxProto, { type onnx as proto } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { Random } from '../src/util/random.js';

const { onnx } = onnxProto;
const { DataType } = onnx.TensorProto;

type Attr = number | number[];
/** opType, inputs, output, attributes, domain. */
type Node = [string, string[], string, Record<string, Attr>?, string?];

export interface ModelParts {
  opset: number;
  input: { name: string; elemType?: number; dims: (number | string)[] };
  /** More inputs (a model histoseek must refuse). */
  extraInputs?: string[];
  nodes: Node[];
  initializers: proto.ITensorProto[];
  outputs: string[];
}

function attribute(name: string, value: Attr): proto.IAttributeProto {
  const { INT, INTS } = onnx.AttributeProto.AttributeType;
  return Array.isArray(value) ? { name, type: INTS, ints: value } : { name, type: INT, i: value };
}

function tensor(name: string, dataType: number, dims: number[], data: ArrayBufferView): proto.ITensorProto {
  return { name, dataType, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export const floats = (name: string, dims: number[], values: ArrayLike<number>) =>
  tensor(name, DataType.FLOAT, dims, Float32Array.from(values));
const int64s = (name: string, values: number[]) =>
  tensor(name, DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt)));
const scalar = (name: string, value: number) => tensor(name, DataType.FLOAT, [], Float32Array.of(value));
const uint8Scalar = (name: string, value: number) => tensor(name, DataType.UINT8, [], Uint8Array.of(value));

export function modelBytes(parts: ModelParts): Uint8Array {
  const valueInfo = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
  const domains = [...new Set(parts.nodes.map((n) => n[4]).filter((d): d is string => !!d))];
  const model: proto.IModelProto = {
    irVersion: 7,
    producerName: 'histoseek-tests',
    opsetImport: [{ domain: '', version: parts.opset }, ...domains.map((domain) => ({ domain, version: 1 }))],
    graph: {
      name: 'encoder',
      node: parts.nodes.map(([opType, input, output, attrs = {}, domain]) => ({
        opType,
        input,
        output: [output],
        name: output,
        ...(domain ? { domain } : {}),
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      })),
      initializer: parts.initializers,
      input: [
        valueInfo(parts.input.name, parts.input.elemType ?? DataType.FLOAT, parts.input.dims),
        ...(parts.extraInputs ?? []).map((name) => valueInfo(name, DataType.FLOAT, [1])),
      ],
      output: parts.outputs.map((name) => ({ name })),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

/** Output channels of the five convolutions. */
export const WIDTHS = [4, 8, 12, 16, 20];
const CONV = { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };

export interface FloatModelOptions {
  batch?: number | string;
  side?: number | string;
  opset?: number;
  /**
   * The graph's end after the last ReLU `r5`: 'classifier' GlobalAveragePool `gap` → Flatten
   * `flat` → Gemm `logits`; 'reshape-1' the same with `flat` a Reshape to [1, -1] (one image
   * only); 'tokens' also a Reshape of `r5` to [1, 4, 20] (80 values: one image at 64×64 only).
   */
  tail?: 'classifier' | 'reshape-1' | 'tokens';
}

/** Conv `c1`…`c5` (stride 2…32), each followed by a ReLU `r1`…`r5`; input `pixels` [batch, 3, side, side]. */
export function floatModel(o: FloatModelOptions = {}): Uint8Array {
  const rng = new Random(7);
  const normal = (n: number, std: number) => rng.fillNormal(new Float32Array(n), std);
  const nodes: Node[] = [];
  const initializers: proto.ITensorProto[] = [];
  let x = 'pixels';
  let channels = 3;
  WIDTHS.forEach((width, i) => {
    initializers.push(floats(`w${i + 1}`, [width, channels, 3, 3], normal(width * channels * 9, 0.3)));
    initializers.push(floats(`b${i + 1}`, [width], normal(width, 0.1)));
    nodes.push(['Conv', [x, `w${i + 1}`, `b${i + 1}`], `c${i + 1}`, CONV]);
    nodes.push(['Relu', [`c${i + 1}`], `r${i + 1}`]);
    [x, channels] = [`r${i + 1}`, width];
  });
  const tail = o.tail ?? 'classifier';
  nodes.push(['GlobalAveragePool', ['r5'], 'gap']);
  if (tail === 'reshape-1') {
    initializers.push(int64s('one_row', [1, -1]));
    nodes.push(['Reshape', ['gap', 'one_row'], 'flat']);
  } else nodes.push(['Flatten', ['gap'], 'flat', { axis: 1 }]);
  initializers.push(floats('wf', [5, channels], normal(5 * channels, 0.3)), floats('bf', [5], normal(5, 0.1)));
  nodes.push(['Gemm', ['flat', 'wf', 'bf'], 'logits', { transB: 1 }]);
  const outputs = ['logits'];
  if (tail === 'tokens') {
    initializers.push(int64s('token_shape', [1, 4, 20]));
    nodes.push(['Reshape', ['r5', 'token_shape'], 'tokens']);
    outputs.push('tokens');
  }
  return modelBytes({
    opset: o.opset ?? 9,
    input: { name: 'pixels', dims: [o.batch ?? 'N', 3, o.side ?? 'H', o.side ?? 'W'] },
    nodes,
    initializers,
    outputs,
  });
}

/** Scale and zero point of each quantized activation of quantizedModel. */
export const QUANT = {
  pixels_q: [0.02, 128],
  qc1: [0.03, 128],
  qc2: [0.04, 128],
  qc3: [0.05, 128],
  qc4: [0.05, 128],
  q4: [0.03, 0],
  qc5: [0.06, 128],
  qgap: [0.01, 100],
} as const satisfies Record<string, readonly [number, number]>;

/**
 * QuantizeLinear `pixels_q` → QLinearConv `qc1`…`qc4` → DequantizeLinear `dq4` → Relu `relu4` →
 * QuantizeLinear `q4` → QLinearConv `qc5` → QLinearGlobalAveragePool `qgap` (com.microsoft, no
 * consumer: its scale is its producer's) and DequantizeLinear `dq5`. Opset 13, open batch and side.
 */
export function quantizedModel(): Uint8Array {
  const rng = new Random(11);
  const nodes: Node[] = [];
  const initializers: proto.ITensorProto[] = [];
  const activation = (name: keyof typeof QUANT) => {
    initializers.push(scalar(`${name}_scale`, QUANT[name][0]), uint8Scalar(`${name}_zp`, QUANT[name][1]));
    return [`${name}_scale`, `${name}_zp`];
  };
  nodes.push(['QuantizeLinear', ['pixels', ...activation('pixels_q')], 'pixels_q']);
  let x: keyof typeof QUANT = 'pixels_q';
  let channels = 3;
  const convs = ['qc1', 'qc2', 'qc3', 'qc4', 'qc5'] as const;
  convs.forEach((y, i) => {
    const width = WIDTHS[i];
    const weights = Int8Array.from({ length: width * channels * 9 }, () => rng.int(61) - 30);
    const bias = Int32Array.from({ length: width }, () => rng.int(201) - 100);
    initializers.push(
      tensor(`${y}_w`, DataType.INT8, [width, channels, 3, 3], weights),
      scalar(`${y}_w_scale`, 0.01),
      tensor(`${y}_w_zp`, DataType.INT8, [], Int8Array.of(0)),
      tensor(`${y}_b`, DataType.INT32, [width], bias),
    );
    const xq = [x, `${x}_scale`, `${x}_zp`];
    const wq = [`${y}_w`, `${y}_w_scale`, `${y}_w_zp`];
    nodes.push(['QLinearConv', [...xq, ...wq, ...activation(y), `${y}_b`], y, CONV]);
    if (y === 'qc4') {
      nodes.push(['DequantizeLinear', ['qc4', 'qc4_scale', 'qc4_zp'], 'dq4']);
      nodes.push(['Relu', ['dq4'], 'relu4']);
      nodes.push(['QuantizeLinear', ['relu4', ...activation('q4')], 'q4']);
      x = 'q4';
    } else x = y;
    channels = width;
  });
  nodes.push([
    'QLinearGlobalAveragePool',
    ['qc5', 'qc5_scale', 'qc5_zp', ...activation('qgap')],
    'qgap',
    { channels_last: 0 },
    'com.microsoft',
  ]);
  nodes.push(['DequantizeLinear', ['qc5', 'qc5_scale', 'qc5_zp'], 'dq5']);
  return modelBytes({
    opset: 13,
    input: { name: 'pixels', dims: ['N', 3, 'H', 'W'] },
    nodes,
    initializers,
    outputs: ['qgap', 'dq5'],
  });
}

/** The value of a one-number initializer (a scale, a zero point) of the model `bytes`. */
export function scalarInitializer(bytes: Uint8Array, name: string): number {
  const graph = onnx.ModelProto.decode(bytes).graph as proto.GraphProto;
  const t = graph.initializer.find((i) => i.name === name) as proto.TensorProto | undefined;
  if (!t) throw new Error(`no initializer '${name}'`);
  if (t.floatData.length) return t.floatData[0];
  if (t.int32Data.length) return t.int32Data[0];
  if (t.dataType === DataType.FLOAT) return new DataView(t.rawData.buffer, t.rawData.byteOffset).getFloat32(0, true);
  return t.rawData[0];
}

/** Runs `bytes` as it is, its outputs replaced by `outputs`, on `input` fed to `inputName`. */
export async function runAsIs(
  bytes: Uint8Array,
  inputName: string,
  input: { shape: number[]; data: Float32Array },
  outputs: string[],
): Promise<Record<string, ort.Tensor>> {
  const model = onnx.ModelProto.decode(bytes);
  model.graph!.output = outputs.map((name) => onnx.ValueInfoProto.create({ name }));
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { logSeverityLevel: 3 });
  try {
    return await session.run({ [inputName]: new ort.Tensor('float32', input.data, input.shape) }, outputs);
  } finally {
    await session.release();
  }
}
