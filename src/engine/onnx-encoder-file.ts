/**
 * A user's ONNX image model as histoseek reads it (issue #26): the file's bytes and SHA-256, its
 * decoded graph and its one image input. Every problem is an error that names the file.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import onnxProto, { type onnx as proto } from 'onnx-proto';
import type { OnnxEncoderSpec } from '../model/encoder.js';

// onnx-proto is CommonJS: under ESM its namespace is the default export's `onnx`.
const { onnx } = onnxProto;

export interface OnnxFile {
  path: string;
  sha256: string;
  model: proto.ModelProto;
  /** The model's graph, as decoded: its lists are there, empty or not. */
  graph: proto.GraphProto;
}

/** The input an encoder is fed: float32 [N, 3, H, W]; a dimension the file leaves open is null. */
export interface ImageInput {
  name: string;
  batch: number | null;
  height: number | null;
  width: number | null;
}

/** The oldest default-domain opset whose Mul, Add and Gather broadcast as the nodes histoseek adds expect. */
const MIN_OPSET = 7;

/** An int64 field of a decoded message (protobufjs gives a Long) as a number. */
export function int(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** The file's bytes, their SHA-256 and the decoded model. */
export async function readOnnxFile(path: string): Promise<OnnxFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read the ONNX file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      cause: err,
    });
  }
  const model = decodeOnnx(path, bytes);
  return {
    path,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    model,
    graph: model.graph as proto.GraphProto,
  };
}

/** The spec's file, refused when its bytes are no longer those the spec (and every identity built on it) was read from. */
export async function readSpecFile(spec: OnnxEncoderSpec): Promise<OnnxFile> {
  const file = await readOnnxFile(spec.path);
  if (file.sha256 !== spec.sha256)
    throw new Error(
      `${spec.path}: the file has changed since it was read (SHA-256 ${file.sha256.slice(0, 16)}…, not ${spec.sha256.slice(0, 16)}…)`,
    );
  return file;
}

/** Decodes a ModelProto, refusing what is not one or what histoseek cannot extend. */
function decodeOnnx(path: string, bytes: Uint8Array): proto.ModelProto {
  let model: proto.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`${path}: not an ONNX file (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  // Protobuf decodes many byte strings without complaint: an ONNX model has a version, opsets and nodes.
  if (int(model.irVersion) <= 0 || !model.opsetImport.length || !model.graph?.node?.length)
    throw new Error(`${path}: not an ONNX file (no model graph in it)`);
  const opset = defaultOpset(model);
  if (opset < MIN_OPSET)
    throw new Error(`${path}: the model uses ONNX opset ${opset}; histoseek needs opset ${MIN_OPSET} or later`);
  const external = (model.graph as proto.GraphProto).initializer.find(
    (t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL,
  );
  if (external)
    throw new Error(
      `${path}: its weights ('${external.name}' and others) are stored in separate files; save the model as one file`,
    );
  return model;
}

function defaultOpset(model: proto.ModelProto): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? int(entry.version) : 0;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(onnx.TensorProto.DataType).map(([name, code]) => [code, name.toLowerCase()]),
);

function describe(v: proto.IValueInfoProto): string {
  const tensor = v.type?.tensorType;
  if (!tensor) return `'${v.name}' is not a tensor`;
  const dims = tensor.shape?.dim?.map((d) => (d.dimParam ? d.dimParam : d.dimValue ? String(int(d.dimValue)) : '?'));
  return `'${v.name}' is ${TYPE_NAMES[tensor.elemType ?? 0] ?? 'of an unknown type'} ${dims ? `[${dims.join(', ')}]` : 'of unknown shape'}`;
}

/** The graph's one image input: float32, NCHW with three channels, batch 1 or open. */
export function imageInput(file: OnnxFile): ImageInput {
  const { graph } = file;
  // Files older than IR 4 list their initializers as inputs too.
  const constants = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input.filter((i) => !constants.has(i.name));
  if (inputs.length !== 1)
    throw new Error(
      inputs.length
        ? `${file.path}: the model takes ${inputs.length} inputs (${inputs.map((i) => `'${i.name}'`).join(', ')}); an encoder takes one image`
        : `${file.path}: no image input (the model takes no input)`,
    );
  const input = inputs[0];
  const tensor = input.type?.tensorType;
  const dims = tensor?.shape?.dim ?? [];
  const fixed = dims.map((d) => (d.dimValue ? int(d.dimValue) : null));
  const need = 'histoseek needs a float32 image input [N, 3, H, W] (NCHW)';
  if (tensor?.elemType !== onnx.TensorProto.DataType.FLOAT || dims.length !== 4 || fixed[1] !== 3)
    throw new Error(
      `${file.path}: no image input: ${describe(input)}; ${need}${fixed[3] === 3 ? ' — channels last is not supported' : ''}`,
    );
  const [batch, , height, width] = fixed;
  if (batch !== null && batch !== 1)
    throw new Error(`${file.path}: ${describe(input)} takes batches of exactly ${batch}; ${need} with N 1 or open`);
  return { name: input.name ?? '', batch, height, width };
}

/** The tensors the graph's top-level nodes produce, in graph (topological) order. */
export function producedTensors(graph: proto.GraphProto): string[] {
  return graph.node.flatMap((n) => n.output ?? []).filter((name) => name !== '');
}
