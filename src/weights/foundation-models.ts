/**
 * The pathology foundation models `histoseek weights pull NAME` knows: where each lives on the
 * Hugging Face hub, which file holds its weights, its architecture (VIT_ARCHS, same short names),
 * whether the repository is gated, its licence, and how its checkpoint names its tensors.
 */
import type { VitArchName } from '../model/vit-config.js';
import type { Licence } from './cache.js';

/**
 * How a checkpoint names its tensors: timm's VisionTransformer (the canonical names), or
 * transformers' Dinov2Model (query/key/value apart, layer_scale1.lambda1…), mapped onto timm's.
 */
export type CheckpointNaming = 'timm' | 'dinov2';

export interface FoundationModel {
  /** The hub repository, `owner/name`. */
  repo: string;
  /** The weights file; where a repository holds both formats, the others are tried on a 404. */
  files: readonly string[];
  arch: VitArchName;
  /** The repository asks each user to accept its terms before it serves the files (HF_TOKEN needed). */
  gated: boolean;
  licence: Licence;
  naming: CheckpointNaming;
}

const CC_BY_NC_ND = 'CC-BY-NC-ND-4.0';

export const FOUNDATION_MODELS = {
  uni: {
    repo: 'MahmoodLab/UNI',
    files: ['pytorch_model.bin'],
    arch: 'uni',
    gated: true,
    licence: { name: CC_BY_NC_ND, url: 'https://huggingface.co/MahmoodLab/UNI' },
    naming: 'timm',
  },
  'uni2-h': {
    repo: 'MahmoodLab/UNI2-h',
    files: ['pytorch_model.bin'],
    arch: 'uni2-h',
    gated: true,
    licence: { name: CC_BY_NC_ND, url: 'https://huggingface.co/MahmoodLab/UNI2-h' },
    naming: 'timm',
  },
  virchow2: {
    repo: 'paige-ai/Virchow2',
    files: ['model.safetensors', 'pytorch_model.bin'],
    arch: 'virchow2',
    gated: true,
    licence: { name: CC_BY_NC_ND, url: 'https://huggingface.co/paige-ai/Virchow2' },
    naming: 'timm',
  },
  'h-optimus-0': {
    repo: 'bioptimus/H-optimus-0',
    files: ['pytorch_model.bin'],
    arch: 'h-optimus-0',
    gated: true,
    licence: { name: 'Apache-2.0', url: 'https://huggingface.co/bioptimus/H-optimus-0' },
    naming: 'timm',
  },
  'h-optimus-1': {
    repo: 'bioptimus/H-optimus-1',
    files: ['model.safetensors', 'pytorch_model.bin'],
    arch: 'h-optimus-1',
    gated: true,
    licence: { name: CC_BY_NC_ND, url: 'https://huggingface.co/bioptimus/H-optimus-1' },
    naming: 'timm',
  },
  'prov-gigapath': {
    repo: 'prov-gigapath/prov-gigapath',
    files: ['pytorch_model.bin'],
    arch: 'prov-gigapath',
    gated: true,
    licence: { name: 'Apache-2.0', url: 'https://huggingface.co/prov-gigapath/prov-gigapath' },
    naming: 'timm',
  },
  'phikon-v2': {
    repo: 'owkin/phikon-v2',
    files: ['model.safetensors'],
    arch: 'phikon-v2',
    gated: false,
    licence: {
      name: 'Owkin non-commercial licence',
      url: 'https://huggingface.co/owkin/phikon-v2/blob/main/LICENSE.pdf',
    },
    naming: 'dinov2',
  },
} as const satisfies Record<string, FoundationModel>;

export type FoundationModelName = keyof typeof FOUNDATION_MODELS;

export function isFoundationModelName(name: string): name is FoundationModelName {
  return Object.hasOwn(FOUNDATION_MODELS, name);
}

export function foundationModel(name: string): FoundationModel {
  if (!isFoundationModelName(name))
    throw new Error(
      `'${name}' is not a foundation model histoseek knows (${Object.keys(FOUNDATION_MODELS).join(', ')})`,
    );
  return FOUNDATION_MODELS[name];
}
