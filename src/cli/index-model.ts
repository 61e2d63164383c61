/** Opening an index together with the model it was built with, for commands that query it. */
import { existsSync } from 'node:fs';
import { OnnxEmbedder } from '../engine/onnx-session.js';
import { RERANK_CANDIDATES, TWO_STAGE_MIN_ROWS, type SearchSettings } from '../index/searcher.js';
import type { ItemSearcher, ItemStore } from '../index/item-store.js';
import { openStore } from '../index/open-store.js';
import type { Model } from '../model/checkpoint.js';
import { optionalPositiveInt } from './args.js';
import { modelIdentity, resolveModel, type ModelOptions } from './model-options.js';

export interface OpenIndex {
  store: ItemStore;
  model: Model;
  embedder: OnnxEmbedder;
  searcher: ItemSearcher;
  close(): Promise<void>;
}

/** The options that choose how a command searches, for its parseArgs table. */
export const SEARCH_MODE_OPTIONS = {
  exact: { type: 'boolean', default: false },
  'two-stage': { type: 'boolean', default: false },
  candidates: { type: 'string' },
} as const;

export const SEARCH_MODE_USAGE = `  --exact              compare with every item (default below ${TWO_STAGE_MIN_ROWS.toLocaleString('en')} items)
  --two-stage          graph candidates re-ranked exactly (default from ${TWO_STAGE_MIN_ROWS.toLocaleString('en')} items on)
  --candidates N       two-stage: graph candidates re-ranked per query (default ${RERANK_CANDIDATES}; more is
                       closer to exact and slower — see the README's table by archive size)
`;

/** `--exact` or `--two-stage` (not both; neither lets the index's size decide), and `--candidates`. */
export function parseSearchSettings(o: { exact?: boolean; 'two-stage'?: boolean; candidates?: string }): SearchSettings {
  if (o.exact && o['two-stage']) throw new Error('give --exact or --two-stage, not both');
  return { mode: o.exact ? 'exact' : o['two-stage'] ? 'two-stage' : 'auto', candidates: optionalPositiveInt(o.candidates, '--candidates') };
}

/**
 * Opens the index read-only with its model: --weights if given, else the checkpoint the index
 * recorded (if it still exists), else the built-in model; another model than the index's is an error.
 */
export async function openIndex(db: string, o: ModelOptions & { threads: number; search?: SearchSettings }): Promise<OpenIndex> {
  const store = await openStore(db);
  try {
    const recorded = store.model.weightsPath && existsSync(store.model.weightsPath) ? store.model.weightsPath : undefined;
    const weights = o.weights ?? recorded;
    const model = await resolveModel({ ...o, weights, size: o.size ?? store.model.inputSize });
    store.assertModel(modelIdentity(model));
    const embedder = await OnnxEmbedder.create(model, { threads: o.threads });
    const searcher = await store.openSearcher({ ...o.search, threads: o.threads }).catch(async (err: unknown) => {
      await embedder.release();
      throw err;
    });
    return {
      store, model, embedder, searcher,
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
