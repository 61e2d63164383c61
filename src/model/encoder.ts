/**
 * Image encoders other than LGFFEM's own ConvNeXt V2 backbone (issue #26): an ONNX file a user
 * brings, or a Vision Transformer foundation model (vit-config.ts). An encoder is used in one of
 * two ways: its pooled features are the descriptor as they are, or its feature pyramid (strides
 * 4, 8, 16, 32) feeds a trained LGFFEM neck and head.
 */
import type { HostTensor } from './host-tensor.js';
import type { VitArch } from './vit-config.js';

export type Rgb = readonly [number, number, number];

/** What an encoder expects of its input: an S×S image, (v/255 − mean) / std per channel, in this channel order. */
export interface Preprocessing {
  size: number;
  mean: Rgb;
  std: Rgb;
  channels: 'RGB' | 'BGR';
}

export const IMAGENET_MEAN: Rgb = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Rgb = [0.229, 0.224, 0.225];

export const IMAGENET_PREPROCESSING: Preprocessing = {
  size: 224,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  channels: 'RGB',
};

/** A user's ONNX image model (`--encoder FILE.onnx`). */
export interface OnnxEncoderSpec {
  kind: 'onnx';
  /** Absolute path of the .onnx file. */
  path: string;
  /** SHA-256 of the file's bytes: part of every identity built on it. */
  sha256: string;
  preprocessing: Preprocessing;
  /** The tensor whose values (global-average-pooled when 4-D) are the features; default: the last 4-D tensor. */
  output?: string;
  /** The four tensors at strides 4, 8, 16, 32 for the LGFFEM neck; default: found by running a dummy input. */
  pyramid?: readonly string[];
}

/** A Vision Transformer with its weights in timm's names (vit-config.ts). */
export interface VitEncoderSpec {
  kind: 'vit';
  /** The registry name (`uni`, `virchow2`…) or a description of where the weights came from. */
  name: string;
  arch: VitArch;
  weights: Map<string, HostTensor>;
  /** SHA-256 of the checkpoint file the weights were read from (or of the weights, for random ones). */
  sha256: string;
  /** The licence the weights are under (SPDX id or the model card's name), recorded in the index. */
  licence?: string;
}

export type EncoderSpec = OnnxEncoderSpec | VitEncoderSpec;
