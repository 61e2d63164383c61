/** Opening an index together with the model it was built with, for commands that query it. */
import { existsSync } from 'node:fs';
import { OnnxEmbedder } from '../engine/onnx-session.js';
import { Searcher } from '../index/searcher.js';
import { IndexStore } from '../index/store.js';
import type { Model } from '../model/checkpoint.js';
import { modelIdentity, resolveModel, type ModelOptions } from './model-options.js';

export interface OpenIndex {
  store: IndexStore;
  model: Model;
  embedder: OnnxEmbedder;
  searcher: Searcher;
  close(): Promise<void>;
}

/** `--ann`: absent for exact search, 'hnsw' for the HNSW graph; anything else is an error. */
export function parseAnn(value: string | undefined): boolean {
  if (value !== undefined && value !== 'hnsw') throw new Error(`--ann must be 'hnsw', got '${value}'`);
  return value === 'hnsw';
}

/**
 * Opens the index read-only with its model: --weights if given, else the checkpoint the index
 * recorded (if it still exists), else the built-in model; another model than the index's is an error.
 */
export async function openIndex(db: string, o: ModelOptions & { threads: number; ann?: string }): Promise<OpenIndex> {
  const ann = parseAnn(o.ann);
  const store = IndexStore.open(db);
  try {
    const recorded = store.model.weightsPath && existsSync(store.model.weightsPath) ? store.model.weightsPath : undefined;
    const weights = o.weights ?? recorded;
    const model = await resolveModel({ ...o, weights, size: o.size ?? store.model.inputSize });
    store.assertModel(modelIdentity(model));
    const embedder = await OnnxEmbedder.create(model, { threads: o.threads });
    const searcher = await Searcher.open(store, { threads: o.threads, ann }).catch(async (err: unknown) => {
      await embedder.release();
      throw err;
    });
    return {
      store, model, embedder, searcher,
      async close() {
        await Promise.all([embedder.release(), searcher.release()]);
        store.close();
      },
    };
  } catch (err) {
    store.close();
    throw err;
  }
}
