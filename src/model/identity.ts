/** A model's identity: an index records it so that queries are embedded by the same model. */
import { createHash } from 'node:crypto';
import type { Model } from './checkpoint.js';
import { configToMetadata } from './config.js';

/** Hashes already taken, by model object (models are never changed in place: training makes new weight maps); the index check and the model cache both ask at start-up. */
const hashes = new WeakMap<object, string>();

/** SHA-256 over the config and every tensor (names sorted, shapes and float32 bytes). */
export function modelHash(model: Pick<Model, 'config' | 'weights'>): string {
  const known = hashes.get(model);
  if (known) return known;
  const hash = createHash('sha256');
  hash.update(JSON.stringify(configToMetadata(model.config)));
  for (const name of [...model.weights.keys()].sort()) {
    const t = model.weights.get(name)!;
    hash.update(`${name}:${t.shape.join('x')};`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const digest = hash.digest('hex');
  hashes.set(model, digest);
  return digest;
}
