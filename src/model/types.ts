/**
 * What a model is, for every layer above: LGFFEM's config and weights, an encoder's own features,
 * and the precision either runs at. Only types and their constants: this file imports no module
 * that imports it, so the files that load, hash and run models all take their vocabulary from here.
 */
import type { ModelConfig } from './config.js';
import type { EncoderSpec, OnnxEncoderSpec, Preprocessing } from './encoder.js';
import type { HostTensor } from './host-tensor.js';

/**
 * How the model runs: float32 throughout, or its per-position linear maps in int8 (issue #15;
 * engine/int8-calibration.ts). The int8 model is another function, so it is another identity
 * (identity.ts).
 */
export const PRECISIONS = ['fp32', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** LGFFEM: its config and weights (checkpoint.ts reads and writes them). */
export interface Model {
  kind?: 'lgffem';
  config: ModelConfig;
  weights: Map<string, HostTensor>;
  /** Where the weights came from, for messages and the index's model id. */
  source: string;
  /** How onnxruntime runs it (default fp32); part of the model's identity. */
  precision?: Precision;
  /** The encoder whose pyramid the neck runs on, when `config.pyramidChannels` is set (no ConvNeXt V2 backbone then). */
  encoder?: OnnxEncoderSpec;
  /** The encoder a checkpoint was trained over, as its metadata records it, until `encoder` is resolved. */
  trainedOver?: EncoderRecord;
}

/** An encoder as a checkpoint records it: the file it was trained over, its SHA-256, and how it was fed and tapped. */
export interface EncoderRecord {
  path: string;
  sha256: string;
  preprocessing?: Omit<Preprocessing, 'size'>;
  pyramid?: readonly string[];
}

/** A model whose descriptor is an encoder's own pooled features: no neck, no head, nothing trained here. */
export interface FeatureModel {
  kind: 'features';
  encoder: EncoderSpec;
  /** For messages and the index's model id. */
  source: string;
  precision?: Precision;
  /** Images are resized to inputSize × inputSize. */
  inputSize: number;
  /** Values per descriptor. */
  dim: number;
}
