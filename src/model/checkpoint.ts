/**
 * Checkpoints: a safetensors file holding the whole model (backbone under timm's names with the
 * prefix `backbone.`, neck and head under docs/model.md's names) and its config in the metadata.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromMetadata, configToMetadata, DEFAULT_CONFIG, type ModelConfig } from './config.js';
import { sameShape, type HostTensor } from './host-tensor.js';
import type { OnnxEncoderSpec } from './encoder.js';
import { parameterSpecs, randomWeights, type ParamSpec } from './params.js';
import { readSafetensors, writeSafetensors, type SafetensorsDtype } from './safetensors.js';
import type { EncoderRecord, Model } from './types.js';

/** What of an ONNX encoder's settings a neck trained over it depends on (its input size is the config's). */
function encoderSettings(encoder: OnnxEncoderSpec): Pick<EncoderRecord, 'preprocessing' | 'pyramid'> {
  const { size: _size, ...preprocessing } = encoder.preprocessing;
  return { preprocessing, ...(encoder.pyramid ? { pyramid: encoder.pyramid } : {}) };
}

const BACKBONE_PREFIX = 'backbone.';
/** Seed of `randomModel` when none is given. */
export const DEFAULT_SEED = 0;

/** The trained default model shipped with histoseek (models/default/MODEL_CARD.md). */
export const DEFAULT_MODEL_PATH = fileURLToPath(
  new URL('../../models/default/lgffem-atto-c64-s128.safetensors', import.meta.url),
);
/** The tissue-class model shipped beside it (models/tissue/MODEL_CARD.md): for search by tissue class across slides. */
export const TISSUE_MODEL_PATH = fileURLToPath(
  new URL('../../models/tissue/lgffem-atto-c64-s128-tissue.safetensors', import.meta.url),
);

/** Whether a checkpoint is one of the models shipped for the demo (no `path`: the default one). */
export function isBundledCheckpoint(path?: string): boolean {
  return path === undefined || [DEFAULT_MODEL_PATH, TISSUE_MODEL_PATH].includes(resolve(path));
}

/**
 * Checks that `tensors` holds exactly the parameters `specs` asks for, with the right shapes;
 * the error lists every missing, unexpected and mis-shaped tensor by name.
 */
export function checkTensors(tensors: Map<string, HostTensor>, specs: Map<string, ParamSpec>, source: string): void {
  const missing = [...specs.keys()].filter((name) => !tensors.has(name));
  const extra = [...tensors.keys()].filter((name) => !specs.has(name));
  const misShaped = [...specs]
    .filter(([name, spec]) => tensors.has(name) && !sameShape(tensors.get(name)!.shape, spec.shape))
    .map(([name, spec]) => `${name} is [${tensors.get(name)!.shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
  const problems = [
    missing.length ? `missing tensors: ${listSome(missing)}` : '',
    extra.length ? `unexpected tensors: ${listSome(extra)}` : '',
    misShaped.length ? `wrong shapes: ${listSome(misShaped)}` : '',
  ].filter(Boolean);
  if (problems.length) throw new Error(`${source}: does not match the model — ${problems.join('; ')}`);
}

function listSome(items: string[], max = 8): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

/** The checkpoint at `path`, or (none given) the trained default model. */
export async function loadCheckpoint(path?: string): Promise<Model> {
  if (!path)
    return { ...(await loadCheckpoint(DEFAULT_MODEL_PATH)), source: 'histoseek default model (lgffem-atto-c64-s128)' };
  const file = await readSafetensors(path);
  const config = configFromMetadata(file.metadata, path);
  checkTensors(file.tensors, parameterSpecs(config), path);
  const { encoder_path: encoderPath, encoder_sha256: encoderSha256, encoder_settings: settings } = file.metadata;
  if (config.pyramidChannels && !(encoderPath && encoderSha256))
    throw new Error(`${path}: a neck over an encoder's pyramid, but the metadata does not name the encoder`);
  const recorded = settings ? (JSON.parse(settings) as Pick<EncoderRecord, 'preprocessing' | 'pyramid'>) : {};
  const trainedOver = config.pyramidChannels ? { path: encoderPath!, sha256: encoderSha256!, ...recorded } : undefined;
  return { config, weights: file.tensors, source: path, ...(trainedOver ? { trainedOver } : {}) };
}

export async function saveCheckpoint(
  path: string,
  model: Pick<Model, 'config' | 'weights' | 'encoder'>,
  dtype: SafetensorsDtype = 'F32',
): Promise<void> {
  const encoder: Record<string, string> = model.encoder
    ? {
        encoder_path: model.encoder.path,
        encoder_sha256: model.encoder.sha256,
        encoder_settings: JSON.stringify(encoderSettings(model.encoder)),
      }
    : {};
  await writeSafetensors(
    path,
    model.weights,
    { format: 'histoseek-lgffem', ...configToMetadata(model.config), ...encoder },
    dtype,
  );
}

export function randomModel(config: ModelConfig = DEFAULT_CONFIG, seed = DEFAULT_SEED): Model {
  return {
    config,
    weights: randomWeights(config, seed),
    source: `random(${config.preset}, C=${config.neckChannels}, L=${config.neckLayers}, seed=${seed})`,
  };
}

/**
 * Replaces a model's backbone with a timm `convnextv2_*` checkpoint (PyTorch layouts, timm names,
 * no prefix); its classifier `head.*` is ignored. The preset must match the file's sizes.
 */
export async function withTimmBackbone(model: Model, path: string): Promise<Model> {
  const file = await readSafetensors(path);
  const backboneSpecs = new Map([...parameterSpecs(model.config)].filter(([name]) => name.startsWith(BACKBONE_PREFIX)));
  const tensors = new Map<string, HostTensor>();
  for (const [name, tensor] of file.tensors) {
    if (!name.startsWith('head.')) tensors.set(BACKBONE_PREFIX + name, tensor);
  }
  checkTensors(tensors, backboneSpecs, `${path} (as a ConvNeXt V2 '${model.config.preset}' backbone)`);
  const weights = new Map(model.weights);
  for (const [name, tensor] of tensors) weights.set(name, tensor);
  return { config: model.config, weights, source: `${model.source} + backbone ${path}` };
}
