/**
 * LGFFEM, written once against `Ops` (docs/model.md): ConvNeXt V2 backbone → L local–global fusion neck
 * layers → four GeM mini-heads. Every executor (inference graph, differentiable graph, shapes) runs this code.
 */
import { BACKBONE_PRESETS, pyramidDims, type ModelConfig } from './config.js';
import type { Ops } from './ops.js';

export type Pyramid<T> = [T, T, T, T];

// ---------------------------------------------------------------- backbone (timm names)

export function convnextBlock<T>(ops: Ops<T>, x: T, name: string, dim: number): T {
  let y = ops.conv(x, `${name}.conv_dw`, {
    outChannels: dim,
    kernel: 7,
    stride: 1,
    pad: 3,
    depthwise: true,
    bias: true,
  });
  y = ops.layerNorm(y, `${name}.norm`);
  y = ops.linear(y, `${name}.mlp.fc1`, 4 * dim, true);
  y = ops.grn(ops.gelu(y), `${name}.mlp.grn`, 'timm');
  y = ops.linear(y, `${name}.mlp.fc2`, dim, true);
  return ops.add(x, y);
}

export function backbone<T>(ops: Ops<T>, image: T, config: ModelConfig): Pyramid<T> {
  const { dims, depths } = BACKBONE_PRESETS[config.preset];
  let x = ops.conv(image, 'backbone.stem.0', {
    outChannels: dims[0],
    kernel: 4,
    stride: 4,
    pad: 0,
    depthwise: false,
    bias: true,
  });
  x = ops.layerNorm(x, 'backbone.stem.1');
  const stages: T[] = [];
  for (let i = 0; i < 4; i++) {
    const stage = `backbone.stages.${i}`;
    if (i > 0) {
      x = ops.layerNorm(x, `${stage}.downsample.0`);
      x = ops.conv(x, `${stage}.downsample.1`, {
        outChannels: dims[i],
        kernel: 2,
        stride: 2,
        pad: 0,
        depthwise: false,
        bias: true,
      });
    }
    for (let j = 0; j < depths[i]; j++) x = convnextBlock(ops, x, `${stage}.blocks.${j}`, dims[i]);
    stages.push(x);
  }
  return stages as Pyramid<T>;
}

// ---------------------------------------------------------------- neck (published LGFFEM names)

/** Lateral projection of a backbone stage to the neck width (first layer only). */
export function projectToNeck<T>(ops: Ops<T>, x: T, name: string, inChannels: number, width: number): T {
  let y = ops.linear(x, `${name}.pwconv1`, inChannels / 2, false, true);
  y = ops.gelu(ops.layerNorm(y, `${name}.norm`));
  return ops.linear(y, `${name}.pwconv2`, width, true, true);
}

/** LA(X) = α·X + (1−α)·X·σ(pw2(GELU(pw1(LN(X))))), optionally upsampling X 2× first. */
export function localAggregator<T>(ops: Ops<T>, x: T, name: string, width: number, upsample: boolean): T {
  if (upsample) x = ops.upsample2x(ops.layerNorm(x, `${name}.normup`), `${name}.upsample`);
  let s = ops.linear(ops.layerNorm(x, `${name}.norm`), `${name}.pwconv1`, width / 2, true, true);
  s = ops.linear(ops.gelu(s), `${name}.pwconv2`, width, true, true);
  return ops.gate(x, ops.sigmoid(s), `${name}.alpha`);
}

/** GA(X) = α·X + (1−α)·X·σ(pw2(GRN(GELU(pw1(LN(dw3×3(X))))))), optionally downsampling X 2× first. */
export function globalAggregator<T>(ops: Ops<T>, x: T, name: string, width: number, downsample: boolean): T {
  const dw3 = (stride: number) => ({ outChannels: width, kernel: 3, stride, pad: 1, depthwise: true, bias: false });
  if (downsample) x = ops.layerNorm(ops.conv(x, `${name}.downsample`, dw3(2)), `${name}.normup`);
  let g = ops.layerNorm(ops.conv(x, `${name}.dwconv`, dw3(1)), `${name}.norm`);
  g = ops.gelu(ops.linear(g, `${name}.pwconv1`, width / 2, true, true));
  g = ops.linear(ops.grn(g, `${name}.gc`, 'neck'), `${name}.pwconv2`, width, true, true);
  return ops.gate(x, ops.sigmoid(g), `${name}.alpha`);
}

/** One LGFFN layer (paper eq. 6); `inChannels` is given for the first layer, which projects the backbone stages. */
export function neckLayer<T>(
  ops: Ops<T>,
  feats: Pyramid<T>,
  layer: number,
  width: number,
  inChannels?: readonly number[],
): Pyramid<T> {
  const n = `neck.${layer}`;
  const [p1, p2, p3, p4] = inChannels
    ? feats.map((f, i) => projectToNeck(ops, f, `${n}.p${i + 1}_down_channel`, inChannels[i], width))
    : feats;
  const LA = (x: T, m: string, up = false) => localAggregator(ops, x, `${n}.${m}`, width, up);
  const GA = (x: T, m: string, down = false) => globalAggregator(ops, x, `${n}.${m}`, width, down);
  const fuse = (node: string, terms: T[]) => ops.fuse(terms, `${n}.${node}_weight`);

  const p3_1 = fuse('p3_1', [GA(p3, 'p31_gca_p30'), LA(p4, 'p31_lca_p40', true)]);
  const p2_1 = fuse('p2_1', [GA(p2, 'p21_gca_p20'), LA(p3_1, 'p21_lca_p31', true)]);
  const p1_2 = fuse('p1_2', [GA(p1, 'p12_gca_p10'), LA(p2_1, 'p12_lca_p21', true)]);
  const p2_2 = fuse('p2_2', [LA(p2, 'p22_lca_p20'), LA(p2_1, 'p22_lca_P21'), GA(p1_2, 'p22_gca_p12', true)]);
  const p3_2 = fuse('p3_2', [LA(p3, 'p32_lca_p30'), LA(p3_1, 'p32_lca_P31'), GA(p2_2, 'p32_gca_p22', true)]);
  const p4_2 = fuse('p4_2', [LA(p4, 'p42_lca_p40'), GA(p3_2, 'p42_gca_p32', true)]);
  return [p1_2, p2_2, p3_2, p4_2];
}

export function neck<T>(
  ops: Ops<T>,
  feats: Pyramid<T>,
  config: ModelConfig,
  onLayer?: (layer: number, out: Pyramid<T>) => void,
): Pyramid<T> {
  const dims = pyramidDims(config);
  for (let layer = 0; layer < config.neckLayers; layer++) {
    feats = neckLayer(ops, feats, layer, config.neckChannels, layer === 0 ? dims : undefined);
    onLayer?.(layer, feats);
  }
  return feats;
}

// ---------------------------------------------------------------- head

/** f = fc_norm(l2normalise(fc(Dropout₀.₆(BN(GeM(P)))))). */
export function miniHead<T>(ops: Ops<T>, x: T, name: string, width: number): T {
  let v = ops.batchNorm(ops.gem(x, `${name}.gem.p`), `${name}.bn`);
  v = ops.linear(ops.dropout(v, 0.6), `${name}.fc`, width, true);
  return ops.linear(ops.l2normalize(v), `${name}.fc_norm`, width, true);
}

/** The raw descriptor f_e = concat(f₁..f₄), 4C values (not unit-norm). */
export function head<T>(ops: Ops<T>, feats: Pyramid<T>, config: ModelConfig): T {
  return ops.concat(feats.map((f, i) => miniHead(ops, f, `head.h${i + 1}`, config.neckChannels)));
}

export interface Trace<T> {
  backbone: Pyramid<T>;
  neck: Pyramid<T>[];
}

/** Neck and head on a pyramid of features: the descriptor f_e. */
export function neckHead<T>(ops: Ops<T>, feats: Pyramid<T>, config: ModelConfig): T {
  return head(ops, neck(ops, feats, config), config);
}

/** The whole model; with `trace`, every backbone stage and neck layer output is recorded into it. */
export function lgffem<T>(ops: Ops<T>, image: T, config: ModelConfig, trace?: Trace<T>): T {
  const stages = backbone(ops, image, config);
  if (trace) trace.backbone = stages;
  const fused = neck(ops, stages, config, (layer, out) => trace?.neck.push(out));
  return head(ops, fused, config);
}
