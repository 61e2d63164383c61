/**
 * A Vision Transformer checkpoint in timm's names, checked against its architecture's parameter
 * list (model/vit-weights.ts): the names every ViT weight goes by here (cls_token,
 * blocks.N.attn.qkv.weight…), whatever the checkpoint called them. transformers' Dinov2Model
 * names (Phikon-v2) are mapped onto timm's: query, key and value are stacked into qkv, and the
 * mask token (used only in training) is dropped.
 */
import { concatFirstAxis, type HostTensor } from '../model/host-tensor.js';
import type { VitArch } from '../model/encoder.js';
import { checkVitWeights } from '../model/vit-weights.js';
import { readCheckpointTensors } from './checkpoint-file.js';
import type { CheckpointNaming } from './foundation-models.js';

/** transformers' Dinov2Model names → timm's, per tensor (query/key/value are stacked separately). */
const DINOV2_RENAMES: [RegExp, string][] = [
  [/^embeddings\.cls_token$/, 'cls_token'],
  [/^embeddings\.position_embeddings$/, 'pos_embed'],
  [/^embeddings\.patch_embeddings\.projection\.(weight|bias)$/, 'patch_embed.proj.$1'],
  [/^encoder\.layer\.(\d+)\.norm([12])\.(weight|bias)$/, 'blocks.$1.norm$2.$3'],
  [/^encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)$/, 'blocks.$1.attn.proj.$2'],
  [/^encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1$/, 'blocks.$1.ls$2.gamma'],
  [/^encoder\.layer\.(\d+)\.mlp\.(fc[12])\.(weight|bias)$/, 'blocks.$1.mlp.$2.$3'],
  [/^layernorm\.(weight|bias)$/, 'norm.$1'],
];
const DINOV2_QKV = /^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$/;
const DINOV2_DROPPED = /^embeddings\.mask_token$/;

/** A Dinov2Model state (transformers' names) in timm's names. Names it does not know pass through, to be reported as unexpected. */
export function dinov2ToTimm(weights: Map<string, HostTensor>, source: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  const qkv = new Map<string, Partial<Record<'query' | 'key' | 'value', HostTensor>>>();
  for (const [name, tensor] of weights) {
    if (DINOV2_DROPPED.test(name)) continue;
    const parts = DINOV2_QKV.exec(name);
    if (parts) {
      const key = `blocks.${parts[1]}.attn.qkv.${parts[3]}`;
      qkv.set(key, { ...qkv.get(key), [parts[2]]: tensor });
      continue;
    }
    const rename = DINOV2_RENAMES.find(([pattern]) => pattern.test(name));
    out.set(rename ? name.replace(rename[0], rename[1]) : name, tensor);
  }
  for (const [key, { query, key: k, value }] of qkv) {
    if (!query || !k || !value) {
      const missing = Object.entries({ query, key: k, value }).filter(([, t]) => !t);
      throw new Error(`${source}: ${key} needs query, key and value; ${missing.map(([n]) => n).join(', ')} missing`);
    }
    // timm's qkv projection is query, key and value stacked along the output axis, in that order.
    out.set(key, concatFirstAxis([query, k, value]));
  }
  return out;
}

/** A ViT checkpoint file (safetensors or torch zip) in timm's names, checked against `arch`. */
export async function readVitCheckpoint(
  path: string,
  options: { arch: VitArch; naming: CheckpointNaming },
): Promise<Map<string, HostTensor>> {
  const stored = await readCheckpointTensors(path);
  const weights = options.naming === 'dinov2' ? dinov2ToTimm(stored, path) : stored;
  checkVitWeights(options.arch, weights, path);
  return weights;
}
