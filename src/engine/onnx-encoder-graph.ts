/**
 * A user's ONNX graph rewritten into the session histoseek runs: its input fed as histoseek feeds
 * every model (NCHW RGB, ImageNet-normalised) and converted to the model's own preprocessing, and
 * its outputs the tensors histoseek takes — dequantized, cast to float32, pooled or transposed as
 * asked — with every node they do not need left out. The user's nodes are kept as they are, at
 * their opset: the nodes added here (Gather, Mul, Add, GlobalAveragePool, Flatten, Transpose, Cast,
 * DequantizeLinear) read the same at every opset from 7 on (DequantizeLinear exists wherever a
 * quantized tensor can).
 */
import onnxProto, { type onnx as proto } from 'onnx-proto';
import { IMAGENET_MEAN, IMAGENET_STD, type Preprocessing } from '../model/encoder.js';
import { imageInput, type OnnxFile } from './onnx-encoder-file.js';
import { quantizedTensors, type QuantParams } from './onnx-encoder-quant.js';

const { onnx } = onnxProto;

/** A tensor of the user's graph that histoseek takes, as the probe found it (one image in). */
export interface TakenTensor {
  name: string;
  /** onnxruntime's name of its element type: float32, uint8… */
  type: string;
  shape: number[];
}

/** 'pooled': [N, C] (a 4-D tensor global-average-pooled, a 2-D one as is); or the feature map in this layout. */
export type Delivery = 'pooled' | 'NCHW' | 'NHWC';

export interface EncoderGraphPlan {
  preprocessing: Preprocessing;
  /** Open the input's batch dimension when the file fixes it at 1 (the probe checked that the graph allows it). */
  batched: boolean;
  outputs: { tensor: TakenTensor; as: Delivery }[];
}

/** Element types that become float32 by a Cast; quantized integers are dequantized instead. */
export const CASTABLE_TYPES = ['float16', 'float64'];

const TO_NHWC = [0, 2, 3, 1];

/** Nodes and initializers added to the user's graph, under names it does not use. */
class Additions {
  readonly nodes: proto.INodeProto[] = [];
  readonly initializers: proto.ITensorProto[] = [];

  constructor(private readonly taken: Set<string>) {}

  fresh(hint: string): string {
    let name = `histoseek_${hint}`;
    for (let i = 1; this.taken.has(name); i++) name = `histoseek_${hint}_${i}`;
    this.taken.add(name);
    return name;
  }

  node(opType: string, inputs: string[], attrs: Record<string, number | number[]> = {}, output?: string): string {
    const out = output ?? this.fresh(opType);
    const { INT, INTS } = onnx.AttributeProto.AttributeType;
    const attribute = Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v) ? { name, type: INTS, ints: v } : { name, type: INT, i: v },
    );
    // The node's own name is new too: an output given may be a name the user's nodes carry.
    this.nodes.push({ opType, input: inputs, output: [out], name: output ? this.fresh(opType) : out, attribute });
    return out;
  }

  constant(hint: string, dims: number[], values: Float32Array | BigInt64Array): string {
    const { FLOAT, INT64 } = onnx.TensorProto.DataType;
    const name = this.fresh(hint);
    const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.initializers.push({ name, dims, dataType: values instanceof Float32Array ? FLOAT : INT64, rawData });
    return name;
  }
}

/**
 * Per model channel k, the a and b with (v/255 − mean_k) / std_k = a·x + b, where x is histoseek's
 * ImageNet-normalised value of the colour channel k reads; null when they are 1 and 0 throughout.
 */
function renormalisation(p: Preprocessing): { scale: number[]; shift: number[] } | null {
  const source = p.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const scale = source.map((c, k) => IMAGENET_STD[c] / p.std[k]);
  const shift = source.map((c, k) => (IMAGENET_MEAN[c] - p.mean[k]) / p.std[k]);
  const identity = p.channels === 'RGB' && scale.every((a) => a === 1) && shift.every((b) => b === 0);
  return identity ? null : { scale, shift };
}

/** Prepends the conversion; returns the name of the graph input histoseek feeds. */
function prependPreprocessing(add: Additions, modelInput: string, p: Preprocessing): string {
  const r = renormalisation(p);
  if (!r) return modelInput;
  const image = add.fresh('image');
  let x = image;
  if (p.channels === 'BGR')
    x = add.node('Gather', [x, add.constant('bgr', [3], BigInt64Array.from([2n, 1n, 0n]))], { axis: 1 });
  x = add.node('Mul', [x, add.constant('scale', [1, 3, 1, 1], Float32Array.from(r.scale))]);
  add.node('Add', [x, add.constant('shift', [1, 3, 1, 1], Float32Array.from(r.shift))], {}, modelInput);
  return image;
}

/** Appends the nodes that deliver one taken tensor; returns the graph output's name. */
function deliver(add: Additions, tensor: TakenTensor, as: Delivery, quantized: Map<string, QuantParams>): string {
  let x = tensor.name;
  const q = quantized.get(x);
  if (q) {
    const inputs = [x, q.scale, ...(q.zeroPoint ? [q.zeroPoint] : [])];
    x = add.node('DequantizeLinear', inputs, q.axis === undefined ? {} : { axis: q.axis });
  } else if (CASTABLE_TYPES.includes(tensor.type)) x = add.node('Cast', [x], { to: onnx.TensorProto.DataType.FLOAT });
  if (as === 'pooled')
    return tensor.shape.length === 4 ? add.node('Flatten', [add.node('GlobalAveragePool', [x])], { axis: 1 }) : x;
  return as === 'NHWC' ? add.node('Transpose', [x], { perm: TO_NHWC }) : x;
}

/** Names a node reads, those its subgraphs (If, Loop, Scan bodies) read from the outer scope included. */
function reads(node: proto.INodeProto): string[] {
  const subgraphs = (node.attribute ?? []).flatMap((a) => [a.g, ...(a.graphs ?? [])]).filter((g) => !!g);
  return [...(node.input ?? []), ...subgraphs.flatMap((g) => (g.node ?? []).flatMap(reads))];
}

/** The nodes `outputs` need, in their order, and every name those nodes read. */
function prune(nodes: proto.INodeProto[], outputs: string[]): { nodes: proto.INodeProto[]; read: Set<string> } {
  const read = new Set(outputs);
  const kept: proto.INodeProto[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (!nodes[i].output?.some((o) => read.has(o))) continue;
    kept.push(nodes[i]);
    for (const name of reads(nodes[i])) read.add(name);
  }
  return { nodes: kept.reverse(), read };
}

/** Every name the graph uses, so that the names added are new. */
function namesIn(graph: proto.IGraphProto): Set<string> {
  const names = new Set<string>();
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
    names.add(v.name ?? '');
  for (const t of graph.initializer ?? []) names.add(t.name ?? '');
  for (const n of graph.node ?? []) for (const name of [...reads(n), ...(n.output ?? [])]) names.add(name);
  return names;
}

/** The serialised session graph for `plan`. */
export function encoderGraph(file: OnnxFile, plan: EncoderGraphPlan): Uint8Array {
  const { model, graph } = file;
  const input = imageInput(file);
  const add = new Additions(namesIn(graph));
  const fed = prependPreprocessing(add, input.name, plan.preprocessing);
  const preprocessing = add.nodes.splice(0);
  const quantized = quantizedTensors(graph);
  const outputs = plan.outputs.map(({ tensor, as }) => deliver(add, tensor, as, quantized));
  const { nodes, read } = prune([...preprocessing, ...graph.node, ...add.nodes], outputs);

  const size = plan.preprocessing.size;
  const openBatch = plan.batched && input.batch !== null;
  const batch = openBatch || input.batch === null ? { dimParam: 'N' } : { dimValue: input.batch };
  const imageType = {
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: [batch, { dimValue: 3 }, { dimValue: size }, { dimValue: size }] },
    },
  };
  // Files older than IR 4 list their initializers as inputs too: those still read stay.
  const initializers = graph.initializer.filter((t) => read.has(t.name ?? ''));
  const constants = new Set(initializers.map((t) => t.name));
  const rewritten: proto.IGraphProto = {
    ...graph,
    node: nodes,
    initializer: [...initializers, ...add.initializers],
    sparseInitializer: graph.sparseInitializer.filter((t) => read.has(t.values?.name ?? '')),
    input: [{ name: fed, type: imageType }, ...graph.input.filter((i) => constants.has(i.name ?? ''))],
    output: outputs.map((name) => ({ name })),
    // Shapes recorded for a batch of 1 would contradict an open batch: onnxruntime infers them again.
    valueInfo: openBatch ? [] : graph.valueInfo.filter((v) => read.has(v.name ?? '')),
  };
  // Training information names initializers that may be gone: this is an inference graph.
  return onnx.ModelProto.encode({ ...model, trainingInfo: [], graph: rewritten }).finish();
}

/** The file's graph as it is but for its outputs: `names`, whose shapes and types the probe reads. */
export function graphWithOutputs(file: OnnxFile, names: string[]): Uint8Array {
  const { model } = file;
  const graph = { ...file.graph, output: [...new Set(names)].map((name) => ({ name })) };
  return onnx.ModelProto.encode({ ...model, graph }).finish();
}
