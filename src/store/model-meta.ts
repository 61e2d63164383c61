/**
 * The model an index was built with, as both stores record it: the same meta keys in the folder's
 * SQLite and in PostgreSQL's meta table, written and read here once.
 */
import type { ModelIdentity } from './types.js';

/** The meta entries that record `model` (absent parts as empty strings). */
export function modelMeta(model: ModelIdentity): Record<string, string> {
  return {
    model_id: model.id,
    model_hash: model.hash,
    model_weights: model.weightsPath ?? '',
    model_encoder: model.encoder ?? '',
    model_encoder_options: model.encoderOptions ?? '',
    model_licence: model.licence ?? '',
    dim: String(model.dim),
    input_size: String(model.inputSize),
  };
}

/** The model recorded in meta entries (`get` gives an entry, or undefined); the caller checks the required keys. */
export function modelFromMeta(get: (key: string) => string | null | undefined): ModelIdentity {
  return {
    id: get('model_id')!,
    hash: get('model_hash')!,
    weightsPath: get('model_weights') || undefined,
    encoder: get('model_encoder') || undefined,
    encoderOptions: get('model_encoder_options') || undefined,
    licence: get('model_licence') || undefined,
    dim: Number(get('dim')),
    inputSize: Number(get('input_size')),
  };
}
