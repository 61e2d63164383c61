/**
 * Validation during training: the current neck + head (onnxruntime, on cached features of the
 * untouched images) embed the training items as the index and the validation items as queries;
 * retrieval is scored as the eval command scores it.
 */
import { NeckHeadSession } from '../engine/onnx-parts.js';
import { scoreRetrieval } from '../eval/in-memory.js';
import type { RetrievalMetrics } from '../eval/metrics.js';
import { normaliseRows } from '../store/vectors/normalise.js';
import { embeddingSize, type ModelConfig } from '../model/config.js';
import type { HostTensor } from '../model/host-tensor.js';
import type { FeatureCache } from './feature-cache.js';

const BATCH = 32;

async function embedCached(
  session: NeckHeadSession,
  cache: FeatureCache,
  count: number,
  dim: number,
): Promise<Float32Array> {
  const out = new Float32Array(count * dim);
  for (let start = 0; start < count; start += BATCH) {
    const pairs = Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => ({ item: start + i, view: 0 }));
    out.set((await session.run(cache.read(pairs))).data, start * dim);
  }
  return normaliseRows(out, dim);
}

export async function validate(
  config: ModelConfig,
  weights: Map<string, HostTensor>,
  train: FeatureCache,
  trainLabels: string[],
  val: FeatureCache,
  valLabels: string[],
  threads: number,
): Promise<RetrievalMetrics> {
  const dim = embeddingSize(config);
  const session = await NeckHeadSession.create(config, weights, threads);
  const index = await embedCached(session, train, trainLabels.length, dim);
  const queries = await embedCached(session, val, valLabels.length, dim);
  await session.release();
  return scoreRetrieval(dim, index, trainLabels, queries, valLabels, 10, threads);
}
