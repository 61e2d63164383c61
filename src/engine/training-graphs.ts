/**
 * The ONNX graphs that differentiate LGFFEM, built with the backprop executor (`onnx-backprop.ts`):
 * a training step's neck (forward, and backward from the outputs' gradients), its head with the
 * loss, and the neck-node gradients that Grad-CAM++ reads. Parameters are graph inputs named as in
 * the checkpoint, in the training layouts (`training-layout.ts`); feature maps are NHWC.
 */
import { pyramidDims, type ModelConfig } from '../model/config.js';
import { head, neck, neckLayer, type Pyramid } from '../model/lgffem.js';
import { BackpropOps, type DropoutMask, type MapValue } from './onnx-backprop.js';
import { subCenterArcFace, type ArcFaceSettings } from './onnx-arcface.js';
import { valueInfo, type Value } from './onnx-builder.js';

export const featureName = (level: number) => `stage${level}`;
export const outputGradientName = (level: number) => `dy${level}`;
export const neckOutputName = (level: number) => `neck${level}`;
export const gradientName = (param: string) => `${param}.grad`;
export const batchMeanName = (module: string) => `${module}.batch_mean`;
export const batchVarianceName = (module: string) => `${module}.batch_var`;
export const nodeName = (layer: number, node: number) => `layer${layer}.node${node}`;
export const ONE_HOT = 'one_hot';
export const CLASS_CENTRES = 'W';
export const LOSS = 'loss';
export const TARGET = 'target';
export const DESCRIPTOR = 'descriptor';
export const SCORE = 'score';

const LEVELS = [0, 1, 2, 3];

const side = (config: ModelConfig, level: number) => config.inputSize / 2 ** (level + 2);

/** Level `level`'s feature map as a graph input, NHWC with a free batch. */
function levelInput(config: ModelConfig, name: string, level: number, channels: number): MapValue {
  return { name, layout: 'NHWC', size: side(config, level), channels };
}

const levelInfo = (x: MapValue) => valueInfo(x.name, ['N', x.size, x.size, x.channels]);

function parameterInputs(ops: BackpropOps, shapes: ReadonlyMap<string, number[]>) {
  return [...ops.usedParams, ...ops.usedBuffers].map((name) => valueInfo(name, shapes.get(name)!));
}

/** Names the graph value `value` as the output `name`. */
function output(ops: BackpropOps, value: string, name: string): void {
  ops.nodes.push({ opType: 'Identity', input: [value], output: [name], name });
}

/** Outputs `<param>.grad` for each parameter gradient. */
function gradientOutputs(ops: BackpropOps, grads: Map<string, string>, shapes: ReadonlyMap<string, number[]>) {
  return [...grads].map(([name, g]) => {
    output(ops, g, gradientName(name));
    return valueInfo(gradientName(name), shapes.get(name)!);
  });
}

/**
 * The neck for backbone features `stage0..3` and parameters fed as inputs under their own names.
 * Forward: outputs `neck0..3`. With `gradient`: inputs `dy0..3` too (the outputs' gradients) and
 * outputs `<param>.grad` instead. The neck treats samples independently, so it runs per micro-batch.
 */
export function buildNeckTrainingGraph(
  config: ModelConfig,
  shapes: ReadonlyMap<string, number[]>,
  gradient: boolean,
): Uint8Array {
  const ops = new BackpropOps(shapes, { training: true, parameterGradients: gradient });
  const dims = pyramidDims(config);
  const features = LEVELS.map((level) => levelInput(config, featureName(level), level, dims[level]));
  features.forEach((x) => ops.markConstant(x));
  const outputs = neck(ops, features as Pyramid<MapValue>, config);
  const inputs = features.map(levelInfo);
  if (!gradient) {
    outputs.forEach((y, level) => ops.output(y, neckOutputName(level), 'NHWC'));
    const outputInfo = outputs.map((y, level) => levelInfo({ ...y, name: neckOutputName(level) }));
    return ops.serialize([...inputs, ...parameterInputs(ops, shapes)], outputInfo, 'lgffem-neck');
  }
  outputs.forEach((y, level) => {
    const dy: Value = { name: outputGradientName(level), layout: 'NHWC' };
    inputs.push(levelInfo({ ...y, name: dy.name }));
    ops.accumulate(y, dy.name, dy.layout);
  });
  const outputInfo = gradientOutputs(ops, ops.backward(), shapes);
  return ops.serialize([...inputs, ...parameterInputs(ops, shapes)], outputInfo, 'lgffem-neck-gradient');
}

/** What the head-and-loss graph takes besides the neck outputs and parameters. */
export interface HeadLossGraph {
  model: Uint8Array;
  /** Dropout mask inputs [N, channels], in the order the head applies them. */
  dropoutMasks: DropoutMask[];
  /** The BatchNorm modules whose batch mean and variance are outputs. */
  batchNorms: string[];
}

/**
 * The head in training mode and the Sub-center ArcFace loss over the whole batch (BatchNorm couples
 * its samples), for neck outputs `neck0..3`, one-hot labels and the class centres W. Outputs the
 * loss, `<param>.grad` for the head's parameters and W, `dy0..3` (the neck outputs' gradients)
 * and each BatchNorm's batch statistics.
 */
export function buildHeadLossGraph(
  config: ModelConfig,
  shapes: ReadonlyMap<string, number[]>,
  arcface: ArcFaceSettings,
): HeadLossGraph {
  const ops = new BackpropOps(shapes, { training: true, parameterGradients: true });
  const width = config.neckChannels;
  const features = LEVELS.map((level) => levelInput(config, neckOutputName(level), level, width));
  const embedding = head(ops, features as Pyramid<MapValue>, config);
  const dim = embedding.channels;
  const centres = arcface.classes * arcface.subCenters;
  const loss = subCenterArcFace(ops, embedding.name, ONE_HOT, CLASS_CENTRES, arcface);
  ops.accumulate(embedding, loss.dEmbeddings, 'NC');
  const outputInfo = gradientOutputs(ops, ops.backward(), shapes);
  output(ops, loss.loss, LOSS);
  output(ops, loss.dW, gradientName(CLASS_CENTRES));
  outputInfo.push(valueInfo(LOSS, []), valueInfo(gradientName(CLASS_CENTRES), [dim, centres]));
  features.forEach((x, level) => {
    output(ops, ops.gradientOf(x)!, outputGradientName(level));
    outputInfo.push(levelInfo({ ...x, name: outputGradientName(level) }));
  });
  for (const stats of ops.batchStatistics) {
    output(ops, stats.mean, batchMeanName(stats.module));
    output(ops, stats.variance, batchVarianceName(stats.module));
    outputInfo.push(
      valueInfo(batchMeanName(stats.module), [width]),
      valueInfo(batchVarianceName(stats.module), [width]),
    );
  }
  const inputs = [
    ...features.map(levelInfo),
    valueInfo(ONE_HOT, ['N', arcface.classes]),
    valueInfo(CLASS_CENTRES, [dim, centres]),
    ...ops.dropoutMasks.map((m) => valueInfo(m.name, ['N', m.channels])),
    ...parameterInputs(ops, shapes),
  ];
  return {
    model: ops.serialize(inputs, outputInfo, 'lgffem-head-loss'),
    dropoutMasks: ops.dropoutMasks,
    batchNorms: ops.batchStatistics.map((s) => s.module),
  };
}

/**
 * Grad-CAM++'s gradients (docs/model.md#grad-cam-explanations): for backbone features `stage0..3` and unit
 * target vectors `target` [N, D], in eval mode, outputs the descriptor, y = cos(descriptor, target)
 * as `score` [N], and for every neck layer l and node k its output `layer<l>.node<k>` (NHWC) with
 * ∂y/∂ of it, `layer<l>.node<k>.grad`: the partial derivative by that output as an input to what
 * follows, the next layer or the head (a node's uses inside its own layer are other nodes' concern).
 */
export function buildNodeGradientGraph(config: ModelConfig, shapes: ReadonlyMap<string, number[]>): Uint8Array {
  const ops = new BackpropOps(shapes, { training: false, parameterGradients: false });
  const dims = pyramidDims(config);
  const width = config.neckChannels;
  const features = LEVELS.map((level) => levelInput(config, featureName(level), level, dims[level]));
  features.forEach((x) => ops.markConstant(x));
  let feats = features as Pyramid<MapValue>;
  const nodes: Pyramid<MapValue>[] = [];
  for (let layer = 0; layer < config.neckLayers; layer++) {
    const out = neckLayer(ops, feats, layer, width, layer === 0 ? dims : undefined);
    feats = out.map((y) => ops.boundary(y)) as Pyramid<MapValue>;
    nodes.push(feats);
  }
  const descriptor = head(ops, feats, config);
  const dim = descriptor.channels;
  // y = f·t / ‖f‖ (t a unit vector): ∂y/∂f = t/‖f‖ − y·f/‖f‖².
  const norm = ops.node('Sqrt', [ops.reduceSum(ops.mul(descriptor.name, descriptor.name), [1], 1)]);
  const score = ops.div(ops.reduceSum(ops.mul(descriptor.name, TARGET), [1], 1), norm); // [N, 1]
  const dScore = ops.sub(ops.div(TARGET, norm), ops.div(ops.mul(score, descriptor.name), ops.mul(norm, norm)));
  ops.accumulate(descriptor, dScore, 'NC');
  ops.backward();
  output(ops, descriptor.name, DESCRIPTOR);
  output(ops, ops.reshape(score, [-1]), SCORE);
  const outputInfo = [valueInfo(DESCRIPTOR, ['N', dim]), valueInfo(SCORE, ['N'])];
  nodes.forEach((layerNodes, layer) =>
    layerNodes.forEach((x, k) => {
      const name = nodeName(layer, k);
      ops.output(x, name, 'NHWC');
      output(ops, ops.as({ name: ops.gradientOf(x)!, layout: x.layout }, 'NHWC').name, gradientName(name));
      const dims4 = ['N', x.size, x.size, x.channels];
      outputInfo.push(valueInfo(name, dims4), valueInfo(gradientName(name), dims4));
    }),
  );
  const inputs = [...features.map(levelInfo), valueInfo(TARGET, ['N', dim]), ...parameterInputs(ops, shapes)];
  return ops.serialize(inputs, outputInfo, 'lgffem-node-gradients');
}
