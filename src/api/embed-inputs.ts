/** Descriptors of images in any form a library caller gives (files, encoded bytes, raw pixels), batched like indexing. */
import { ItemLoader } from '../collections/load.js';
import { ImageError } from '../data/image.js';
import { embedAll } from '../engine/embed-images.js';
import type { Embedder } from '../engine/embedder.js';
import { HistoseekError } from '../util/errors.js';
import { readImageInput, type ImageInput } from './image-input.js';

/**
 * The raw descriptors f_e (inputs.length × dim, in order). `names[i]` names input i in errors; an
 * unusable image is thrown (BAD_IMAGE, or NOT_FOUND for a missing file), every one of them named.
 */
export async function embedImageInputs(
  embedder: Embedder,
  inputs: readonly ImageInput[],
  names: readonly string[],
  batch: number,
): Promise<Float32Array> {
  const loader = new ItemLoader();
  try {
    // embedAll addresses images by a key of its own: their position, mapped back to the input here.
    const keys = inputs.map((_, i) => String(i));
    const embedded = await embedAll(embedder, keys, batch, async (key, size) => {
      const i = Number(key);
      try {
        return await readImageInput(inputs[i], size, names[i], loader);
      } catch (err) {
        throw err instanceof ImageError
          ? err
          : new ImageError(names[i], err instanceof Error ? err.message : String(err));
      }
    });
    const [first] = embedded.failures;
    if (first)
      throw new HistoseekError(first.code, embedded.failures.map((f) => f.message).join('\n'), { cause: first });
    return embedded.raw;
  } finally {
    await loader.close();
  }
}
