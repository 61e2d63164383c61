/**
 * The operations the LGFFEM definition is written in. Each executor implements them for its own
 * tensor type T (a node of an inference or a differentiable ONNX graph, a shape) and its own memory layout; the
 * model itself is written once, in `lgffem.ts`, against this interface.
 *
 * Parameters are named as in the checkpoint (PyTorch layouts): an operation that owns weights takes
 * the module's name and reads `<name>.weight`, `<name>.bias`, … as its executor sees fit.
 * Feature maps carry their channels along an axis of the executor's choosing; vectors are [N, C].
 */
export interface ConvSpec {
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
  /** One filter per channel (groups = channels); outChannels must then equal the input's. */
  depthwise: boolean;
  bias: boolean;
}

/** What a parameter is, so that a fresh model can be initialised sensibly. */
export type ParamRole =
  | 'weight' // convolution / linear kernels: N(0, 1/fan_in)
  | 'bias' // zeros
  | 'norm-weight' // LayerNorm / BatchNorm scale: ones
  | 'zeros' // GRN gains, aggregator alphas, norm shifts
  | 'ones' // fusion weights
  | 'gem-p' // GeM exponent: config.gemP
  | 'running-mean' // BatchNorm buffer: zeros, not trained
  | 'running-var' // BatchNorm buffer: ones, not trained
  | 'token' // a ViT's class and register tokens
  | 'position' // a ViT's position embedding
  | 'layer-scale'; // a ViT's LayerScale gains

export interface Ops<T> {
  /** Convolution with a weight [out, in/groups, k, k] and optional bias [out]. */
  conv(x: T, name: string, spec: ConvSpec): T;
  /** Depthwise transposed convolution, kernel 2, stride 2 (weight [C, 1, 2, 2], bias [C]): doubles H and W. */
  upsample2x(x: T, name: string): T;
  /**
   * Per-position linear map over channels: `<name>.weight` is [out, in] (a Linear) or, with
   * `pointwiseConv`, [out, in, 1, 1] (a 1×1 convolution); same maths.
   */
  linear(x: T, name: string, outChannels: number, bias: boolean, pointwiseConv?: boolean): T;
  /** LayerNorm over channels, eps 1e-6, weight and bias [C]. */
  layerNorm(x: T, name: string): T;
  /**
   * Global response normalisation across channels: x + g·(x·N(x)) + b, N(x) = ‖x‖₂ over H,W divided by
   * its channel mean + 1e-6. Parameters `<name>.weight/.bias` [C] (timm) or `<name>.gamma/.beta` [1,C,1,1] (neck).
   */
  grn(x: T, name: string, naming: 'timm' | 'neck'): T;
  gelu(x: T): T;
  sigmoid(x: T): T;
  add(a: T, b: T): T;
  /** α·x + (1−α)·x·s with the trainable scalar `<name>` ([1]). */
  gate(x: T, s: T, name: string): T;
  /** Fast normalised fusion Σ ReLU(wᵢ)·tᵢ / (Σ ReLU(wⱼ) + 1e-4), w = `<name>` ([terms.length]). */
  fuse(terms: T[], name: string): T;
  /** GeM pooling over H,W with trainable exponent `<name>` ([1]), clamp 1e-6: feature map → vector. */
  gem(x: T, name: string): T;
  /** BatchNorm1d on vectors, eps 1e-5: batch statistics in training, running ones otherwise. */
  batchNorm(x: T, name: string): T;
  /** Inverted dropout in training, identity otherwise. */
  dropout(x: T, rate: number): T;
  /** x / max(‖x‖₂, 1e-12) along channels. */
  l2normalize(x: T): T;
  /** Concatenate vectors along channels. */
  concat(xs: T[]): T;
}
