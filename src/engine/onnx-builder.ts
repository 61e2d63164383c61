/**
 * Plumbing shared by the executors that write ONNX graphs (`onnx-graph.ts` for inference,
 * `onnx-backprop.ts` for training): nodes, deduplicated constants, layout-tracked values and
 * serialisation. Each value records its layout; `as` inserts a Transpose only when a value is in
 * the other one.
 */
import onnxProto, { type onnx as proto } from 'onnx-proto';

// onnx-proto is CommonJS: under ESM its namespace is the default export's `onnx`.
const { onnx } = onnxProto;

/** Feature maps either way round, vectors, and token sequences [N, T, C] (a ViT's). */
export type Layout = 'NCHW' | 'NHWC' | 'NC' | 'NTC';
export interface Value {
  name: string;
  layout: Layout;
}

const OPSET = 20;
const CONTRIB_DOMAIN = 'com.microsoft';
const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

export type Attr = number | number[] | string;

/** An in-memory file of ONNX external data, as onnxruntime-node's `externalData` session option takes it. */
export interface ExternalDataFile {
  path: string;
  data: Uint8Array;
}

/** A serialised model and the initializers it holds outside its protobuf message (none for most models). */
export interface SerializedModel {
  model: Uint8Array;
  externalData: ExternalDataFile[];
}

function attribute(name: string, value: Attr): proto.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
}

/** The bytes are a view of `data`, encoded when the graph is serialised: nothing changes tensors in between. */
function floatTensor(name: string, dims: number[], data: Float32Array): proto.ITensorProto {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes };
}

function int64Tensor(name: string, values: number[]): proto.ITensorProto {
  const data = BigInt64Array.from(values.map(BigInt));
  return {
    name,
    dims: [values.length],
    dataType: onnx.TensorProto.DataType.INT64,
    rawData: new Uint8Array(data.buffer),
  };
}

/** A float32 graph input or output; a string dimension is symbolic. */
export function valueInfo(name: string, dims: (number | string)[]): proto.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export class GraphBuilder {
  readonly nodes: proto.INodeProto[] = [];
  readonly initializers: proto.ITensorProto[] = [];
  private counter = 0;
  private readonly constants = new Set<string>();
  private readonly domains = new Set<string>();

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.nodeOutputs(opType, inputs, 1, attrs)[0];
  }

  /** A node of onnxruntime's own operators (domain com.microsoft), such as MatMulIntegerToFloat. */
  contribNode(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.nodeOutputs(opType, inputs, 1, attrs, CONTRIB_DOMAIN)[0];
  }

  /** A node with several outputs. */
  nodeOutputs(
    opType: string,
    inputs: string[],
    outputs: number,
    attrs: Record<string, Attr> = {},
    domain?: string,
  ): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(opType));
    if (domain) this.domains.add(domain);
    this.nodes.push({
      opType,
      ...(domain ? { domain } : {}),
      input: inputs,
      output: names,
      name: names[0],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return names;
  }

  /** The initializer `make()` builds under `key`, added once however often it is asked for. */
  private initializer(key: string, make: () => proto.ITensorProto): string {
    if (!this.constants.has(key)) {
      this.initializers.push(make());
      this.constants.add(key);
    }
    return key;
  }

  /** A float initializer, deduplicated by key. */
  constant(key: string, dims: number[], data: Float32Array): string {
    return this.initializer(key, () => floatTensor(key, dims, data));
  }

  /** An 8-bit integer initializer (quantised weights, zero points), deduplicated by key. */
  bytes(key: string, dims: number[], data: Int8Array | Uint8Array): string {
    const { DataType } = onnx.TensorProto;
    return this.initializer(key, () => ({
      name: key,
      dims,
      dataType: data instanceof Int8Array ? DataType.INT8 : DataType.UINT8,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    }));
  }

  scalar(value: number): string {
    return this.constant(`const_${value}`, [], Float32Array.of(value));
  }

  /** An int64 vector initializer (axes, shapes, slice bounds). */
  ints(values: number[]): string {
    const key = `ints_${values.join('_')}`;
    return this.initializer(key, () => int64Tensor(key, values));
  }

  as<V extends Value>(x: V, layout: Layout): V {
    if (x.layout === layout || x.layout === 'NC') return x;
    if (x.layout === 'NTC' || layout === 'NTC')
      throw new Error(`a value in layout ${x.layout} cannot be transposed to ${layout}`);
    return { ...x, name: this.node('Transpose', [x.name], { perm: layout === 'NHWC' ? TO_NHWC : TO_NCHW }), layout };
  }

  /** x with its channels on the last axis, where MatMul and LayerNormalization want them: only NCHW needs a transpose. */
  channelsLast<V extends Value>(x: V): V {
    return x.layout === 'NCHW' ? this.as(x, 'NHWC') : x;
  }

  /** The number of axes of a value in `layout`. */
  rank(layout: Layout): number {
    return layout === 'NC' ? 2 : layout === 'NTC' ? 3 : 4;
  }

  spatialAxes(layout: Layout): number[] {
    return layout === 'NCHW' ? [2, 3] : [1, 2];
  }

  channelAxis(layout: Layout): number {
    return layout === 'NHWC' ? 3 : 1;
  }

  /** Renames a value to a graph output name, feature maps in `layout` (vectors and token sequences stay as they are). */
  output(x: Value, outName: string, layout: 'NCHW' | 'NHWC'): void {
    const v = x.layout === 'NTC' ? x : this.as(x, layout);
    this.nodes.push({ opType: 'Identity', input: [v.name], output: [outName], name: outName });
  }

  /** The serialised model. */
  serialize(inputs: proto.IValueInfoProto[], outputs: proto.IValueInfoProto[], name = 'lgffem'): Uint8Array {
    return this.encode(inputs, outputs, name, this.initializers);
  }

  /**
   * The model with every initializer of `minBytes` or more held outside its message as external
   * data, one in-memory file per tensor (views of the tensors, not copies): how a model past
   * protobuf's 2 GiB limit reaches onnxruntime.
   */
  serializeExternal(
    inputs: proto.IValueInfoProto[],
    outputs: proto.IValueInfoProto[],
    name: string,
    minBytes: number,
  ): SerializedModel {
    const externalData: ExternalDataFile[] = [];
    const initializers = this.initializers.map((t): proto.ITensorProto => {
      const raw = t.rawData;
      if (!raw || raw.byteLength < minBytes) return t;
      const path = `initializer-${externalData.length}.bin`;
      externalData.push({ path, data: raw });
      const entries = { location: path, offset: '0', length: String(raw.byteLength) };
      return {
        ...t,
        rawData: null,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
      };
    });
    return { model: this.encode(inputs, outputs, name, initializers), externalData };
  }

  private encode(
    inputs: proto.IValueInfoProto[],
    outputs: proto.IValueInfoProto[],
    name: string,
    initializer: proto.ITensorProto[],
  ): Uint8Array {
    const node = this.liveNodes(outputs);
    const used = new Set(node.flatMap((n) => n.input ?? []));
    const model: proto.IModelProto = {
      irVersion: 9,
      producerName: 'histoseek',
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph: { name, node, initializer: initializer.filter((t) => used.has(t.name!)), input: inputs, output: outputs },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }

  /**
   * The nodes some output depends on, in order. A backward pass leaves branches that lead nowhere
   * (gradients flowing into constants), which onnxruntime would still run.
   */
  private liveNodes(outputs: proto.IValueInfoProto[]): proto.INodeProto[] {
    const needed = new Set(outputs.map((o) => o.name!));
    const live = new Array<boolean>(this.nodes.length).fill(false);
    // Nodes are appended after their inputs' producers, so one sweep from the end finds them all.
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (!(node.output ?? []).some((o) => needed.has(o))) continue;
      live[i] = true;
      for (const input of node.input ?? []) needed.add(input);
    }
    return this.nodes.filter((_, i) => live[i]);
  }
}
