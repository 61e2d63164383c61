/**
 * The Vision Transformer, written once against `VitOps` (issue #26): timm's VisionTransformer with
 * the DINOv2-style parts the pathology foundation models use — register tokens, LayerScale,
 * SwiGLU — and their poolings. Parameters carry timm's names (`cls_token`, `blocks.3.attn.qkv`…),
 * so a timm checkpoint loads as it is. Every executor that implements `VitOps` (the ONNX graph,
 * the shape executor) runs this code.
 */
import type { Ops } from './ops.js';
import type { VitArch } from './encoder.js';

/** Learned tokens put before the patch tokens: `<name>` is [1, count, C]. */
export interface PrefixToken {
  name: string;
  count: number;
}

/**
 * What a ViT needs beyond the convolutional operations. Token sequences are [N, T, C] (channels
 * last, as timm holds them); the Ops methods it reuses (linear, layerNorm, gelu, add) act on them
 * per token, and concat joins the pooled [N, C] vectors.
 */
export interface VitOps<T> extends Pick<Ops<T>, 'conv' | 'linear' | 'layerNorm' | 'gelu' | 'add' | 'concat'> {
  /** A feature map [N, C, h, w] as a token sequence [N, h·w, C], row by row (timm's flatten(2).transpose(1, 2)). */
  patchTokens(x: T): T;
  /** The learned tokens before the sequence, in the order given, the same for every image of the batch. */
  prependTokens(x: T, tokens: readonly PrefixToken[]): T;
  /** Adds `<name>` [1, T, C] to every sequence (the position embedding, sized for this input). */
  addPositionEmbedding(x: T, name: string): T;
  /**
   * Multi-head scaled dot-product self-attention on packed projections [N, T, 3C] (timm's qkv
   * layout: q, k, v, each split into `heads` heads of C / heads channels) → [N, T, C], heads side by side.
   */
  selfAttention(qkv: T, heads: number): T;
  /** LayerScale: x · `<name>.gamma` ([C]). */
  layerScale(x: T, name: string): T;
  /** SiLU(a) · b over the two halves [a, b] of the channels (timm's SwiGLUPacked): [.., 2H] → [.., H]. */
  swiGlu(x: T): T;
  /** The token at `index` of every sequence: [N, T, C] → [N, C]. */
  token(x: T, index: number): T;
  /** The mean of the tokens from `first` on: [N, T, C] → [N, C]. */
  meanTokens(x: T, first: number): T;
}

/** Class token, then the registers: the tokens before the patches. */
export function prefixTokens(arch: VitArch): PrefixToken[] {
  return [
    { name: 'cls_token', count: 1 },
    ...(arch.regTokens > 0 ? [{ name: 'reg_token', count: arch.regTokens }] : []),
  ];
}

/** The tokens that are not patches: the class token and the registers. */
export function prefixTokenCount(arch: VitArch): number {
  return 1 + arch.regTokens;
}

/** timm's Mlp (fc1 → GELU → fc2) or SwiGLUPacked (fc1 → SiLU(a)·b → fc2). */
function mlp<T>(ops: VitOps<T>, x: T, name: string, arch: VitArch): T {
  const hidden = ops.linear(x, `${name}.fc1`, arch.mlpHidden, true);
  const activated = arch.mlp === 'swiglu' ? ops.swiGlu(hidden) : ops.gelu(hidden);
  return ops.linear(activated, `${name}.fc2`, arch.embedDim, true);
}

/** A pre-norm block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))). */
export function vitBlock<T>(ops: VitOps<T>, x: T, name: string, arch: VitArch): T {
  const scale = (y: T, ls: string) => (arch.layerScale ? ops.layerScale(y, `${name}.${ls}`) : y);
  let y = ops.linear(ops.layerNorm(x, `${name}.norm1`), `${name}.attn.qkv`, 3 * arch.embedDim, true);
  y = ops.linear(ops.selfAttention(y, arch.heads), `${name}.attn.proj`, arch.embedDim, true);
  x = ops.add(x, scale(y, 'ls1'));
  y = mlp(ops, ops.layerNorm(x, `${name}.norm2`), `${name}.mlp`, arch);
  return ops.add(x, scale(y, 'ls2'));
}

/** The final norm's tokens [N, T, C]: patch embedding, prefix tokens, position embedding, the blocks, the norm. */
export function vitTokens<T>(ops: VitOps<T>, image: T, arch: VitArch): T {
  const patches = ops.conv(image, 'patch_embed.proj', {
    outChannels: arch.embedDim,
    kernel: arch.patchSize,
    stride: arch.patchSize,
    pad: 0,
    depthwise: false,
    bias: true,
  });
  let x = ops.patchTokens(patches);
  // timm: with no_embed_class the embedding covers the patches only and the prefix tokens come after it.
  if (arch.posEmbedPrefix) x = ops.addPositionEmbedding(ops.prependTokens(x, prefixTokens(arch)), 'pos_embed');
  else x = ops.prependTokens(ops.addPositionEmbedding(x, 'pos_embed'), prefixTokens(arch));
  for (let i = 0; i < arch.depth; i++) x = vitBlock(ops, x, `blocks.${i}`, arch);
  return ops.layerNorm(x, 'norm');
}

/** The descriptor [N, vitDescriptorSize(arch)]: the class token, the mean of the patch tokens (registers excluded), or both. */
export function vit<T>(ops: VitOps<T>, image: T, arch: VitArch): T {
  const x = vitTokens(ops, image, arch);
  const cls = () => ops.token(x, 0);
  const mean = () => ops.meanTokens(x, prefixTokenCount(arch));
  if (arch.pooling === 'class') return cls();
  if (arch.pooling === 'mean') return mean();
  return ops.concat([cls(), mean()]);
}
