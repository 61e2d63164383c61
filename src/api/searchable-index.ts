/** An index opened for searching together with the model it was built with: what search, eval and the server query. */
import { existsSync } from 'node:fs';
import { OnnxEmbedder } from '../engine/onnx-session.js';
import type { ItemSearcher, ItemStore } from '../index/item-store.js';
import { openStore } from '../index/open-store.js';
import type { SearchSettings } from '../index/searcher.js';
import type { Model } from '../model/checkpoint.js';
import { precisionOfHash } from '../model/identity.js';
import { modelIdentity, resolveModel, type ModelOptions } from './models.js';

export interface SearchableIndex {
  /** The folder or URL it was opened from (with any password: never print it). */
  db: string;
  /** The model options it was resolved from (weights: given, or the index's recorded checkpoint). */
  modelOptions: ModelOptions;
  store: ItemStore;
  model: Model;
  embedder: OnnxEmbedder;
  searcher: ItemSearcher;
  close(): Promise<void>;
}

/** How to open an index for searching: the model options, inference threads, and how to search. */
export type SearchableIndexOptions = ModelOptions & { threads: number; search?: SearchSettings };

/**
 * Opens the index read-only with its model: `weights` if given, else the checkpoint the index
 * recorded (if it still exists), else the built-in model; another model than the index's is an error.
 */
export async function openSearchableIndex(db: string, o: SearchableIndexOptions): Promise<SearchableIndex> {
  const store = await openStore(db);
  try {
    const recorded =
      store.model.weightsPath && existsSync(store.model.weightsPath) ? store.model.weightsPath : undefined;
    const weights = o.weights ?? recorded;
    const modelOptions: ModelOptions = {
      weights,
      backbone: o.backbone,
      size: o.size ?? store.model.inputSize,
      precision: o.precision ?? precisionOfHash(store.model.hash),
    };
    const model = await resolveModel(modelOptions);
    store.assertModel(modelIdentity(model));
    const embedder = await OnnxEmbedder.create(model, { threads: o.threads });
    const searcher = await store.openSearcher({ ...o.search, threads: o.threads }).catch(async (err: unknown) => {
      await embedder.release();
      throw err;
    });
    return {
      db,
      modelOptions,
      store,
      model,
      embedder,
      searcher,
      async close() {
        await Promise.all([embedder.release(), searcher.release()]);
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
