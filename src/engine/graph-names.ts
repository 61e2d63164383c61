/** The names of the model graph's input and outputs: what a session is fed and asked for, without loading the graph builder. */
import type { ModelConfig } from '../model/config.js';

export const INPUT_NAME = 'input';
export const EMBEDDING_NAME = 'embedding';

/** Names of the traced outputs, in the fixtures' naming. */
export function traceOutputNames(config: ModelConfig): string[] {
  const names = [0, 1, 2, 3].map((i) => `backbone.${i}`);
  for (let l = 0; l < config.neckLayers; l++) names.push(...[0, 1, 2, 3].map((i) => `neck${l}.${i}`));
  return names;
}
