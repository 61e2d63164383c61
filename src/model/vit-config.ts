/**
 * Vision Transformer architectures (VitArch, encoder.ts: timm's VisionTransformer with DINOv2-style
 * parts: register tokens, LayerScale, SwiGLU): the pathology foundation models `histoseek weights
 * pull` knows, and plain ViT-B/16 and ViT-L/16 for benchmarks. Widths, depths and pooling follow
 * each model card and its timm / transformers configuration; test/fixtures/tools/vit_ref.py restates
 * the seven foundation models in timm's own terms (mlp hidden = int(dim × mlp_ratio)…) and
 * test/vit-parity.test.ts holds these presets to it.
 */
import type { VitArch } from './encoder.js';

/** Values per descriptor. */
export function vitDescriptorSize(arch: VitArch): number {
  return arch.pooling === 'class+mean' ? 2 * arch.embedDim : arch.embedDim;
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;
/** timm's original ViT weights (augreg): IMAGENET_INCEPTION_MEAN / _STD. */
const INCEPTION = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } as const;
/** H-optimus-0 and -1's model cards. */
const H_OPTIMUS = { mean: [0.707223, 0.578729, 0.703617], std: [0.211883, 0.230117, 0.177517] } as const;

/** ViT-L/16 with LayerScale and a class token: UNI's and Phikon-v2's architecture. */
const VIT_L16_LAYERSCALE = {
  patchSize: 16,
  embedDim: 1024,
  depth: 24,
  heads: 16,
  mlp: 'gelu',
  mlpHidden: 4096,
  regTokens: 0,
  layerScale: true,
  posEmbedPrefix: true,
  posGrid: 14,
  pooling: 'class',
  imageSize: 224,
  ...IMAGENET,
} as const;
/** ViT-g/14 with 4 registers and SwiGLU: H-optimus-0's and H-optimus-1's architecture. */
const VIT_G14_REG4 = {
  patchSize: 14,
  embedDim: 1536,
  depth: 40,
  heads: 24,
  mlp: 'swiglu',
  mlpHidden: 8192,
  regTokens: 4,
  layerScale: true,
  posEmbedPrefix: false,
  posGrid: 16,
  pooling: 'class',
  imageSize: 224,
  ...H_OPTIMUS,
} as const;

export const VIT_ARCHS = {
  /** timm vit_base_patch16_224 (benchmarks). */
  'vit-b16': {
    patchSize: 16,
    embedDim: 768,
    depth: 12,
    heads: 12,
    mlp: 'gelu',
    mlpHidden: 3072,
    regTokens: 0,
    layerScale: false,
    posEmbedPrefix: true,
    posGrid: 14,
    pooling: 'class',
    imageSize: 224,
    ...INCEPTION,
  },
  /** timm vit_large_patch16_224 (benchmarks): UNI's shape without LayerScale. */
  'vit-l16': { ...VIT_L16_LAYERSCALE, layerScale: false, ...INCEPTION },
  /** MahmoodLab/UNI: ViT-L/16, LayerScale, class token. */
  uni: VIT_L16_LAYERSCALE,
  /** MahmoodLab/UNI2-h: ViT-H/14, SwiGLU, 8 registers, class token. */
  'uni2-h': {
    patchSize: 14,
    embedDim: 1536,
    depth: 24,
    heads: 24,
    mlp: 'swiglu',
    mlpHidden: 8192,
    regTokens: 8,
    layerScale: true,
    posEmbedPrefix: false,
    posGrid: 16,
    pooling: 'class',
    imageSize: 224,
    ...IMAGENET,
  },
  /** paige-ai/Virchow2: ViT-H/14, SwiGLU, 4 registers; class token and mean patch token concatenated. */
  virchow2: {
    patchSize: 14,
    embedDim: 1280,
    depth: 32,
    heads: 16,
    mlp: 'swiglu',
    mlpHidden: 6832,
    regTokens: 4,
    layerScale: true,
    posEmbedPrefix: true,
    posGrid: 16,
    pooling: 'class+mean',
    imageSize: 224,
    ...IMAGENET,
  },
  /** bioptimus/H-optimus-0: ViT-g/14 with 4 registers, SwiGLU, class token. */
  'h-optimus-0': VIT_G14_REG4,
  /** bioptimus/H-optimus-1: the same architecture as H-optimus-0. */
  'h-optimus-1': VIT_G14_REG4,
  /** prov-gigapath/prov-gigapath (tile encoder): ViT-g with 16-px patches, SwiGLU, class token. */
  'prov-gigapath': {
    patchSize: 16,
    embedDim: 1536,
    depth: 40,
    heads: 24,
    mlp: 'swiglu',
    mlpHidden: 8192,
    regTokens: 0,
    layerScale: true,
    posEmbedPrefix: true,
    posGrid: 14,
    pooling: 'class',
    imageSize: 224,
    ...IMAGENET,
  },
  /** owkin/phikon-v2: DINOv2 ViT-L/16 (transformers' Dinov2Model), class token. */
  'phikon-v2': VIT_L16_LAYERSCALE,
} as const satisfies Record<string, VitArch>;

export type VitArchName = keyof typeof VIT_ARCHS;

export function isVitArchName(name: string): name is VitArchName {
  return Object.hasOwn(VIT_ARCHS, name);
}
