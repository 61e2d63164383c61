/** Every kind of model histoseek embeds with: LGFFEM (on its own backbone or an encoder's pyramid), or an encoder's own features. */
import { embeddingSize } from './config.js';
import type { FeatureModel, Model } from './types.js';

export type EmbeddingModel = Model | FeatureModel;

export function isFeatureModel(model: EmbeddingModel): model is FeatureModel {
  return model.kind === 'features';
}

/** Values per descriptor. */
export function descriptorSize(model: EmbeddingModel): number {
  return isFeatureModel(model) ? model.dim : embeddingSize(model.config);
}

/** Images are resized to this side. */
export function modelInputSize(model: EmbeddingModel): number {
  return isFeatureModel(model) ? model.inputSize : model.config.inputSize;
}
