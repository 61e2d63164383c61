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

/** A gated repository of timm-named weights, its licence the one its model card (the repository's page) states. */
function gatedTimm(repo: string, arch: VitArchName, licence: string, files = ['pytorch_model.bin']): FoundationModel {
  return {
    repo,
    files,
    arch,
    gated: true,
    licence: { name: licence, url: `https://huggingface.co/${repo}` },
    naming: 'timm',
  };
}

/** Repositories that hold both: the safetensors file first, the pickle where the hub has no safetensors. */
const BOTH_FORMATS = ['model.safetensors', 'pytorch_model.bin'];

export const FOUNDATION_MODELS = {
  uni: gatedTimm('MahmoodLab/UNI', 'uni', CC_BY_NC_ND),
  'uni2-h': gatedTimm('MahmoodLab/UNI2-h', 'uni2-h', CC_BY_NC_ND),
  virchow2: gatedTimm('paige-ai/Virchow2', 'virchow2', CC_BY_NC_ND, BOTH_FORMATS),
  'h-optimus-0': gatedTimm('bioptimus/H-optimus-0', 'h-optimus-0', 'Apache-2.0'),
  'h-optimus-1': gatedTimm('bioptimus/H-optimus-1', 'h-optimus-1', CC_BY_NC_ND, BOTH_FORMATS),
  'prov-gigapath': gatedTimm('prov-gigapath/prov-gigapath', 'prov-gigapath', 'Apache-2.0'),
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
