/** A pulled foundation model's weights, read from the cache and checked, as the encoder spec the model runs. */
import { join } from 'node:path';
import type { VitEncoderSpec } from '../model/encoder.js';
import { VIT_ARCHS } from '../model/vit-config.js';
import { readCacheRecord, weightsCacheDir } from './cache.js';
import { foundationModel } from './foundation-models.js';
import { readVitCheckpoint } from './vit-checkpoint.js';

/**
 * The weights of a pulled foundation model (`uni`, `virchow2`…) in timm's names, checked against
 * its architecture. The SHA-256 is the one checked when the file was pulled (hashing several GB
 * again on every load would cost more than it tells).
 */
export async function loadFoundationWeights(name: string, cacheDir = weightsCacheDir()): Promise<VitEncoderSpec> {
  const model = foundationModel(name);
  const dir = join(cacheDir, name);
  const record = await readCacheRecord(dir);
  if (!record)
    throw new Error(`${name} is not in the weights cache (${dir}): run 'histoseek weights pull ${name}' first`);
  const arch = VIT_ARCHS[model.arch];
  return {
    kind: 'vit',
    name,
    arch,
    weights: await readVitCheckpoint(record.path, { arch, naming: model.naming }),
    sha256: record.sha256,
    licence: model.licence.name,
  };
}
