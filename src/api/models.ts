/** The model a command or a library call runs, from weights / backbone / size, and its identity for an index. */
import { loadModel, withTimmBackbone, type Model } from '../model/checkpoint.js';
import { embeddingSize, validateConfig } from '../model/config.js';
import { precisionIdentity, type Precision } from '../model/identity.js';
import type { ModelIdentity } from '../index/store.js';
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
}

export async function resolveModel(o: ModelOptions): Promise<Model> {
  const base = await loadModel(o.weights);
  const backed = o.backbone ? await withTimmBackbone(base, resolveBackbone(o.backbone)) : base;
  const model = o.precision === 'int8' ? { ...backed, precision: o.precision } : backed;
  return o.size ? { ...model, config: validateConfig({ ...model.config, inputSize: o.size }, '--size') } : model;
}

export function modelIdentity(model: Model, weightsPath?: string): ModelIdentity {
  return {
    ...precisionIdentity(model),
    weightsPath,
    dim: embeddingSize(model.config),
    inputSize: model.config.inputSize,
  };
}
