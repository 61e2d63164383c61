/**
 * The scale and zero point of a quantized tensor in a QLinear graph (QLinearConv and its kin) or a
 * QDQ graph (QuantizeLinear → DequantizeLinear pairs): read from a node that consumes the tensor,
 * else from the node that produces it, so a DequantizeLinear of histoseek's own can turn it back
 * into float32.
 */
import type { onnx as proto } from 'onnx-proto';
import { int } from './onnx-encoder-file.js';

export interface QuantParams {
  scale: string;
  /** Absent: zero (an optional input left out). */
  zeroPoint?: string;
  /** The channel axis of a per-channel scale, as the node that gave it says. */
  axis?: number;
}

/** For each operator, the inputs that are quantized tensors; each one's scale and zero point are the two inputs after it. */
const QUANTIZED_INPUTS: Record<string, (inputs: number) => number[]> = {
  DequantizeLinear: () => [0],
  QLinearConv: () => [0], // input 3 is the weights
  QLinearMatMul: () => [0, 3],
  QLinearAdd: () => [0, 3],
  QLinearMul: () => [0, 3],
  QLinearAveragePool: () => [0],
  QLinearGlobalAveragePool: () => [0],
  QLinearLeakyRelu: () => [0],
  QLinearSigmoid: () => [0],
  QLinearSoftmax: () => [0],
  // y_scale, y_zero_point, then (x, scale, zero point) for each input.
  QLinearConcat: (inputs) => Array.from({ length: Math.floor((inputs - 2) / 3) }, (_, i) => 2 + 3 * i),
};

/** For each operator, where it reads its quantized output's scale and zero point. */
const QUANTIZED_OUTPUT: Record<string, [number, number]> = {
  QuantizeLinear: [1, 2],
  QLinearConv: [6, 7],
  QLinearMatMul: [6, 7],
  QLinearAdd: [6, 7],
  QLinearMul: [6, 7],
  QLinearAveragePool: [3, 4],
  QLinearGlobalAveragePool: [3, 4],
  QLinearLeakyRelu: [3, 4],
  QLinearSigmoid: [3, 4],
  QLinearSoftmax: [3, 4],
  QLinearConcat: [0, 1],
};

function params(node: proto.INodeProto, scale: number, zeroPoint: number): QuantParams {
  const inputs = node.input ?? [];
  const axis = ['QuantizeLinear', 'DequantizeLinear'].includes(node.opType ?? '')
    ? node.attribute?.find((a) => a.name === 'axis')
    : undefined;
  return {
    scale: inputs[scale],
    ...(inputs[zeroPoint] ? { zeroPoint: inputs[zeroPoint] } : {}),
    ...(axis ? { axis: int(axis.i) } : {}),
  };
}

/**
 * Every quantized tensor of the graph's top level with its scale and zero point. A tensor without
 * an entry is float, or quantized in a way histoseek cannot read.
 */
export function quantizedTensors(graph: proto.IGraphProto): Map<string, QuantParams> {
  const found = new Map<string, QuantParams>();
  const nodes = graph.node ?? [];
  // Consumers first: they say how the value they read is to be read.
  for (const node of nodes) {
    const inputs = node.input ?? [];
    for (const at of QUANTIZED_INPUTS[node.opType ?? '']?.(inputs.length) ?? []) {
      if (inputs[at] && inputs[at + 1] && !found.has(inputs[at])) found.set(inputs[at], params(node, at + 1, at + 2));
    }
  }
  for (const node of nodes) {
    const where = QUANTIZED_OUTPUT[node.opType ?? ''];
    const output = node.output?.[0];
    if (where && output && node.input?.[where[0]] && !found.has(output)) found.set(output, params(node, ...where));
  }
  return found;
}
