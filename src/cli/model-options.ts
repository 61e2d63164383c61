/** The model a command runs, from its --weights / --backbone / --size options, and its identity for an index. */
import { loadModel, TISSUE_MODEL_PATH, withTimmBackbone, type Model } from '../model/checkpoint.js';
import { embeddingSize, validateConfig } from '../model/config.js';
import { modelHash } from '../model/identity.js';
import type { ModelIdentity } from '../index/store.js';
import { resolveBackbone } from '../weights/hub.js';

export interface ModelOptions {
  weights?: string;
  backbone?: string;
  /** Input side S overriding the checkpoint's (a multiple of 32). */
  size?: number;
}

export const MODEL_USAGE = `  --weights FILE    model checkpoint (default: the built-in model, trained to tell slides apart); to
                    search by tissue class across slides, the built-in tissue-class model:
                    ${TISSUE_MODEL_PATH}
  --backbone FILE   replace the backbone with a timm convnextv2_* model.safetensors (same preset),
                    or the name of weights fetched with 'histoseek weights pull'
  --size S          resize images to S×S, a multiple of 32 (default: the model's; 128 for the built-in ones)
`;

export async function resolveModel(o: ModelOptions): Promise<Model> {
  const base = await loadModel(o.weights);
  const model = o.backbone ? await withTimmBackbone(base, resolveBackbone(o.backbone)) : base;
  return o.size ? { ...model, config: validateConfig({ ...model.config, inputSize: o.size }, '--size') } : model;
}

export function modelIdentity(model: Model, weightsPath?: string): ModelIdentity {
  return { id: model.source, hash: modelHash(model), weightsPath, dim: embeddingSize(model.config), inputSize: model.config.inputSize };
}
