/**
 * Image encoders other than LGFFEM's own ConvNeXt V2 backbone (issue #26): an ONNX file a user
 * brings, or a Vision Transformer foundation model (vit-config.ts). An encoder is used in one of
 * two ways: its pooled features are the descriptor as they are, or its feature pyramid (strides
 * 4, 8, 16, 32) feeds a trained LGFFEM neck and head.
 */
import type { HostTensor } from './host-tensor.js';

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

/** A Vision Transformer's architecture; vit-config.ts holds the ones histoseek knows. */
export interface VitArch {
  patchSize: number;
  embedDim: number;
  depth: number;
  heads: number;
  /**
   * 'gelu': fc1 [hidden, dim] → GELU → fc2 [dim, hidden]. 'swiglu': timm's SwiGLUPacked — fc1
   * [hidden, dim], its output split in halves a, b → SiLU(a)·b → fc2 [dim, hidden/2].
   */
  mlp: 'gelu' | 'swiglu';
  /** fc1's output width. */
  mlpHidden: number;
  /** Register tokens after the class token (DINOv2 with registers). */
  regTokens: number;
  /** LayerScale (ls1.gamma, ls2.gamma) on both residual branches. */
  layerScale: boolean;
  /** Whether pos_embed also covers the class (and register) tokens (timm: no_embed_class false). */
  posEmbedPrefix: boolean;
  /** Side of the patch grid pos_embed was trained for; resized to the input's grid. */
  posGrid: number;
  /**
   * The descriptor, from the final norm's tokens: the class token, the mean of the patch tokens
   * (class and register tokens excluded), or both concatenated (Virchow2's card).
   */
  pooling: 'class' | 'mean' | 'class+mean';
  /** The input side the model was trained at. */
  imageSize: number;
  mean: Rgb;
  std: Rgb;
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
