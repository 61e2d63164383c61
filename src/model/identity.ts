/** A model's identity: an index records it so that queries are embedded by the same model. */
import { createHash } from 'node:crypto';
import { configToMetadata } from './config.js';
import { isFeatureModel, type EmbeddingModel } from './embedding-model.js';
import type { FeatureModel, Model, Precision } from './types.js';

/** The int8 model is another function, so it is another identity: its hash is the weights' hash with this suffix. */
const INT8_SUFFIX = '+int8';

/** The id and hash of `model` run at its precision: what an index records and checks. */
export function precisionIdentity(model: EmbeddingModel): { id: string; hash: string } {
  const int8 = model.precision === 'int8';
  const hash = isFeatureModel(model) ? featureModelHash(model) : modelHash(model);
  return { id: int8 ? `${model.source} int8` : model.source, hash: hash + (int8 ? INT8_SUFFIX : '') };
}

/** SHA-256 over what makes an encoder's features: its file's hash, how images are prepared, and which tensor is taken. */
function featureModelHash(model: FeatureModel): string {
  const { encoder } = model;
  const recipe =
    encoder.kind === 'onnx'
      ? { kind: 'onnx', sha256: encoder.sha256, preprocessing: encoder.preprocessing, output: encoder.output ?? null }
      : { kind: 'vit', sha256: encoder.sha256, arch: encoder.arch };
  return createHash('sha256')
    .update(JSON.stringify({ features: recipe, inputSize: model.inputSize }))
    .digest('hex');
}

/** The precision an identity hash was recorded for. */
export function precisionOfHash(hash: string): Precision {
  return hash.endsWith(INT8_SUFFIX) ? 'int8' : 'fp32';
}

/** Hashes already taken, by model object (models are never changed in place: training makes new weight maps); the index check and the model cache both ask at start-up. */
const hashes = new WeakMap<object, string>();

/** SHA-256 over the config, the encoder under the neck (if any) and every tensor (names sorted, shapes and float32 bytes). */
export function modelHash(model: Pick<Model, 'config' | 'weights' | 'encoder'>): string {
  const known = hashes.get(model);
  if (known) return known;
  const hash = createHash('sha256');
  hash.update(JSON.stringify(configToMetadata(model.config)));
  if (model.encoder) {
    const { sha256, preprocessing, pyramid } = model.encoder;
    hash.update(`encoder:${JSON.stringify({ sha256, preprocessing, pyramid: pyramid ?? null })};`);
  }
  for (const name of [...model.weights.keys()].sort()) {
    const t = model.weights.get(name)!;
    hash.update(`${name}:${t.shape.join('x')};`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const digest = hash.digest('hex');
  hashes.set(model, digest);
  return digest;
}

/**
 * Why `given` is not the model the store at `location` (an index or a PostgreSQL store: `what`)
 * was built with, with the options that would pick it; null when it is.
 */
export function identityMismatch(
  location: string,
  what: 'index' | 'store',
  recorded: { id: string; hash: string; weightsPath?: string; encoder?: string },
  given: { id: string; hash: string },
): string | null {
  if (given.hash === recorded.hash) return null;
  const pass: string[] = [];
  const precision = precisionOfHash(recorded.hash);
  if (precision !== precisionOfHash(given.hash)) pass.push(`--precision ${precision}`);
  if (recorded.encoder) pass.push(`--encoder ${recorded.encoder}`);
  if (recorded.weightsPath) pass.push(`--weights ${recorded.weightsPath}`);
  return (
    `${location}: this ${what} was built with model '${recorded.id}' (hash ${recorded.hash.slice(0, 12)}), ` +
    `not '${given.id}' (hash ${given.hash.slice(0, 12)})` +
    (pass.length ? `; pass ${pass.join(' ')}` : '')
  );
}
