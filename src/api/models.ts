/** The model a command or a library call runs, from weights / backbone / size, and its identity for an index. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { probeEncoder } from '../engine/embedders.js';
import { onnxEncoderPrecisionProblem, readOnnxEncoder } from '../engine/onnx-encoder.js';
import type { ModelIdentity } from '../store/types.js';
import { loadCheckpoint, withTimmBackbone } from '../model/checkpoint.js';
import { validateConfig } from '../model/config.js';
import { descriptorSize, modelInputSize, type EmbeddingModel } from '../model/embedding-model.js';
import type { EncoderSpec, Preprocessing } from '../model/encoder.js';
import { precisionIdentity } from '../model/identity.js';
import type { FeatureModel, Model, Precision } from '../model/types.js';
import { vitDescriptorSize } from '../model/vit-config.js';
import { FOUNDATION_MODELS, isFoundationModelName } from '../weights/foundation-models.js';
import { loadFoundationWeights } from '../weights/foundation-weights.js';
import { HistoseekError } from '../util/errors.js';
import { resolveBackbone } from '../weights/hub.js';

export interface ModelOptions {
  /** A checkpoint (.safetensors); default: the built-in model. */
  weights?: string;
  /** A timm convnextv2_* model.safetensors, or the name of weights fetched with `histoseek weights pull`. */
  backbone?: string;
  /** Input side S overriding the checkpoint's (a multiple of 32). */
  size?: number;
  /** fp32 (default) or int8: how onnxruntime runs the model; part of its identity. */
  precision?: Precision;
  /**
   * A real image encoder: an ONNX file, or the name of a foundation model fetched with `histoseek
   * weights pull`. Alone, its pooled features are the descriptor; with `weights`, the checkpoint
   * `histoseek train` fitted over its pyramid.
   */
  encoder?: string;
  /** An ONNX encoder's input normalisation and channel order, over its sidecar FILE.json and ImageNet's defaults. */
  encoderInput?: Partial<Pick<Preprocessing, 'mean' | 'std' | 'channels'>>;
  /** The ONNX tensor taken as features (default: the last 4-D tensor, global-average-pooled). */
  encoderOutput?: string;
  /** The ONNX tensors at strides 4, 8, 16, 32 (default: found by running the encoder once). */
  encoderPyramid?: string[];
}

/** What `index` says once when a bundled model meets a collection that is not synthetic: they know no real tissue. */
export const BUNDLED_MODEL_NOTE =
  "the built-in models are for the demo's synthetic tissue (their backbone is random weights); for real slides use a real encoder: " +
  "'histoseek weights pull phikon-v2', then index with '--encoder phikon-v2' (docs/models-and-weights.md)";

/** The model the options name: an encoder's features, a checkpoint (over its own backbone or an encoder), or the built-in model. */
export async function resolveModel(o: ModelOptions): Promise<EmbeddingModel> {
  if (o.encoder !== undefined && o.backbone !== undefined)
    throw new HistoseekError(
      'BAD_OPTION',
      `--backbone replaces LGFFEM's ConvNeXt V2 backbone; with --encoder ${o.encoder} there is none to replace`,
    );
  const base = o.weights !== undefined || o.encoder === undefined ? await loadCheckpointFile(o.weights) : null;
  if (!base) return featureModel(await resolveEncoder(o.encoder!, o), o);
  if (base.trainedOver) return overEncoder(base, o);
  if (o.encoder !== undefined)
    throw new HistoseekError(
      'BAD_OPTION',
      `${o.weights}: this checkpoint runs on its own ConvNeXt V2 backbone, not over an encoder; drop --encoder, or give a checkpoint trained over it`,
    );
  const backed = o.backbone ? await withTimmBackbone(base, resolveBackbone(o.backbone)) : base;
  const model = o.precision === 'int8' ? { ...backed, precision: o.precision } : backed;
  return o.size ? { ...model, config: validateConfig({ ...model.config, inputSize: o.size }, '--size') } : model;
}

/** The checkpoint (or the built-in model); a missing file is NOT_FOUND, with the reader's message. */
async function loadCheckpointFile(weights: string | undefined): Promise<Model> {
  try {
    return await loadCheckpoint(weights);
  } catch (err) {
    if (weights === undefined || existsSync(weights) || !(err instanceof Error)) throw err;
    throw new HistoseekError('NOT_FOUND', err.message, { cause: err });
  }
}

/** An ONNX file or a pulled foundation model, with the options that describe its input and outputs. */
async function resolveEncoder(value: string, o: ModelOptions): Promise<EncoderSpec> {
  if (isFoundationModelName(value)) {
    const flags = Object.keys(o.encoderInput ?? {}).concat(
      o.encoderOutput ? ['output'] : [],
      o.encoderPyramid ? ['pyramid'] : [],
    );
    if (flags.length)
      throw new HistoseekError(
        'BAD_OPTION',
        `--encoder ${value}: its model card fixes its input and output; the ${flags.join(', ')} options are for ONNX encoders`,
      );
    return loadFoundationWeights(value);
  }
  if (!existsSync(value))
    throw new HistoseekError(
      'NOT_FOUND',
      `--encoder ${value}: no such file, and not a foundation model (known: ${Object.keys(FOUNDATION_MODELS).join(', ')}; fetch one with 'histoseek weights pull NAME')`,
    );
  return readOnnxEncoder(resolve(value), {
    ...o.encoderInput,
    ...(o.size !== undefined ? { size: o.size } : {}),
    ...(o.encoderOutput !== undefined ? { output: o.encoderOutput } : {}),
    ...(o.encoderPyramid !== undefined ? { pyramid: o.encoderPyramid } : {}),
  });
}

async function featureModel(encoder: EncoderSpec, o: ModelOptions): Promise<FeatureModel> {
  const precision = o.precision === 'int8' ? o.precision : undefined;
  if (encoder.kind === 'vit') {
    const inputSize = o.size ?? encoder.arch.imageSize;
    const licence = encoder.licence ? `, ${encoder.licence}` : '';
    return {
      kind: 'features',
      encoder,
      source: `${encoder.name} (features${licence})`,
      precision,
      inputSize,
      dim: vitDescriptorSize(encoder.arch),
    };
  }
  const problem = onnxEncoderPrecisionProblem(encoder, precision);
  if (problem) throw new HistoseekError('BAD_OPTION', problem);
  const probe = await probeEncoder(encoder);
  return {
    kind: 'features',
    encoder,
    source: `${encoder.path} (features)`,
    inputSize: encoder.preprocessing.size,
    dim: probe.featureDim,
  };
}

/**
 * A checkpoint trained over an encoder's pyramid, with that encoder: the one given, else the file it
 * recorded, fed and tapped as it was in training unless the options say otherwise.
 */
async function overEncoder(checkpoint: Model, o: ModelOptions): Promise<Model> {
  const recorded = checkpoint.trainedOver!;
  const value = o.encoder ?? recorded.path;
  if (o.encoder === undefined && !existsSync(value))
    throw new HistoseekError(
      'NOT_FOUND',
      `${o.weights}: trained over the encoder ${recorded.path} (SHA-256 ${recorded.sha256.slice(0, 12)}…), which is not there; pass --encoder FILE`,
    );
  const encoder = await resolveEncoder(value, {
    ...o,
    size: o.size ?? checkpoint.config.inputSize,
    encoderInput: { ...recorded.preprocessing, ...o.encoderInput },
    encoderPyramid: o.encoderPyramid ?? (recorded.pyramid ? [...recorded.pyramid] : undefined),
  });
  if (encoder.kind !== 'onnx' || encoder.sha256 !== recorded.sha256)
    throw new HistoseekError(
      'WRONG_MODEL',
      `${o.weights}: trained over the encoder ${recorded.path} (SHA-256 ${recorded.sha256.slice(0, 12)}…), not ${value} (${encoder.sha256.slice(0, 12)}…)`,
    );
  const problem = onnxEncoderPrecisionProblem(encoder, o.precision);
  if (problem) throw new HistoseekError('BAD_OPTION', problem);
  const config = validateConfig({ ...checkpoint.config, inputSize: encoder.preprocessing.size }, '--size');
  return { ...checkpoint, config, encoder };
}

/** The identity an index records: with the encoder's path or name and options, so later commands find the same model. */
export function modelIdentity(model: EmbeddingModel, weightsPath?: string, o: ModelOptions = {}): ModelIdentity {
  const { encoder } = model;
  const options = encoderOptions(o);
  return {
    ...precisionIdentity(model),
    weightsPath,
    ...(encoder ? { encoder: encoder.kind === 'onnx' ? encoder.path : encoder.name } : {}),
    ...(options ? { encoderOptions: options } : {}),
    ...(encoder?.kind === 'vit' && encoder.licence ? { licence: encoder.licence } : {}),
    dim: descriptorSize(model),
    inputSize: modelInputSize(model),
  };
}

/** What the encoder's options were, as the index records them (JSON; undefined when none was given). */
function encoderOptions(o: ModelOptions): string | undefined {
  const recorded = {
    ...(o.encoderInput && Object.keys(o.encoderInput).length ? { input: o.encoderInput } : {}),
    ...(o.encoderOutput !== undefined ? { output: o.encoderOutput } : {}),
    ...(o.encoderPyramid !== undefined ? { pyramid: o.encoderPyramid } : {}),
  };
  return Object.keys(recorded).length ? JSON.stringify(recorded) : undefined;
}

/** The model options an index recorded for its encoder: what later commands open it with when given none. */
export function recordedEncoderOptions(identity: Pick<ModelIdentity, 'encoder' | 'encoderOptions'>): ModelOptions {
  if (!identity.encoder) return {};
  const recorded = identity.encoderOptions
    ? (JSON.parse(identity.encoderOptions) as {
        input?: ModelOptions['encoderInput'];
        output?: string;
        pyramid?: string[];
      })
    : {};
  return {
    encoder: identity.encoder,
    ...(recorded.input ? { encoderInput: recorded.input } : {}),
    ...(recorded.output !== undefined ? { encoderOutput: recorded.output } : {}),
    ...(recorded.pyramid !== undefined ? { encoderPyramid: recorded.pyramid } : {}),
  };
}
