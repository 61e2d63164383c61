/** An index opened for searching together with the model it was built with: what search, eval and the server query. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createEmbedder, type ModelEmbedder } from '../engine/embedders.js';
import type { ItemSearcher, ItemStore } from '../store/item-store.js';
import type { ModelIdentity, SearchSettings } from '../store/types.js';
import { isPostgresUrl, openStore } from '../store/open-store.js';
import type { EmbeddingModel } from '../model/embedding-model.js';
import { precisionOfHash } from '../model/identity.js';
import { HistoseekError } from '../util/errors.js';
import { isFoundationModelName } from '../weights/foundation-models.js';
import { SILENT_LOGGER, type Logger } from '../util/logger.js';
import { modelIdentity, recordedEncoderOptions, resolveModel, type ModelOptions } from './models.js';

export interface SearchableIndex {
  /** The folder or URL it was opened from (with any password: never print it). */
  db: string;
  /** The model options it was resolved from (weights: given, or the index's recorded checkpoint). */
  modelOptions: ModelOptions;
  store: ItemStore;
  model: EmbeddingModel;
  embedder: ModelEmbedder;
  searcher: ItemSearcher;
  close(): Promise<void>;
}

/** Whether `db` is a folder holding an index (false for a PostgreSQL URL). */
export function hasFolderIndex(db: string): boolean {
  return !isPostgresUrl(db) && existsSync(join(db, 'histoseek.sqlite'));
}

/** WRONG_MODEL unless `model` is the one the store was built with (the message names both). */
export function assertIndexModel(store: ItemStore, model: Pick<ModelIdentity, 'id' | 'hash'>): void {
  try {
    store.assertModel(model);
  } catch (err) {
    if (err instanceof HistoseekError) throw err;
    throw new HistoseekError('WRONG_MODEL', err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** How to open an index for searching: the model options, inference threads, how to search, and who hears the model's and the searcher's notes (default: nobody). */
export type SearchableIndexOptions = ModelOptions & { threads: number; search?: SearchSettings; logger?: Logger };

/**
 * Opens the index read-only with its model: `weights` if given, else the checkpoint the index
 * recorded (if it still exists), else the built-in model; `encoder` if given, else the encoder the
 * index recorded, with its options; another model than the index's is an error.
 */
export async function openSearchableIndex(db: string, o: SearchableIndexOptions): Promise<SearchableIndex> {
  const store = await openStore(db);
  try {
    const recorded =
      store.model.weightsPath && existsSync(store.model.weightsPath) ? store.model.weightsPath : undefined;
    const weights = o.weights ?? recorded;
    const encoder: ModelOptions =
      o.encoder !== undefined
        ? {
            encoder: o.encoder,
            encoderInput: o.encoderInput,
            encoderOutput: o.encoderOutput,
            encoderPyramid: o.encoderPyramid,
          }
        : recordedEncoderOptions(store.model);
    const missing = o.encoder === undefined && encoder.encoder;
    if (missing && !isFoundationModelName(missing) && !existsSync(missing))
      throw new HistoseekError(
        'NOT_FOUND',
        `${db}: this index was built with the encoder ${missing}, which is not there any more; pass --encoder FILE (the same file)`,
      );
    const modelOptions: ModelOptions = {
      ...encoder,
      weights,
      backbone: o.backbone,
      size: o.size ?? store.model.inputSize,
      precision: o.precision ?? precisionOfHash(store.model.hash),
    };
    const model = await resolveModel(modelOptions);
    assertIndexModel(store, modelIdentity(model));
    const logger = o.logger ?? SILENT_LOGGER;
    const embedder = await createEmbedder(model, { threads: o.threads, logger });
    const searcher = await store
      .openSearcher({ ...o.search, threads: o.threads, logger })
      .catch(async (err: unknown) => {
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
