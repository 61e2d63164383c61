/**
 * Images → descriptors, in batches: the next batch is decoded (sharp, on libuv's thread pool)
 * while the model runs the current one, so the model does not wait on decoding.
 */
import { ImageError, loadRgb, normalizeInto, type RgbImage } from '../data/image.js';
import { stopsTheRun } from '../util/errors.js';
import type { HostTensor } from '../model/host-tensor.js';
import { EMBEDDING_NAME } from './graph-names.js';
import type { Embedder } from './embedder.js';

export interface ImageBatch {
  /** Files of this batch that decoded, in input order. */
  paths: string[];
  input: HostTensor;
  failures: ImageError[];
}

/** Loads an image (a file, or e.g. a row of a PanNuke array) resized to size×size RGB. */
export type PixelLoader = (source: string, size: number) => Promise<RgbImage>;

export async function decodeBatch(paths: string[], size: number, load: PixelLoader = loadRgb): Promise<ImageBatch> {
  const results = await Promise.allSettled(paths.map((p) => load(p, size)));
  // A source that cannot be read at all now (a PACS gone) stops the run; one bad image does not.
  const stop = results.find((r) => r.status === 'rejected' && stopsTheRun(r.reason));
  if (stop) throw (stop as PromiseRejectedResult).reason;
  const ok: string[] = [];
  const failures: ImageError[] = [];
  const pixels: Uint8Array[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      ok.push(paths[i]);
      pixels.push(r.value.pixels);
    } else {
      failures.push(r.reason instanceof ImageError ? r.reason : new ImageError(paths[i], String(r.reason)));
    }
  });
  const plane = 3 * size * size;
  const data = new Float32Array(ok.length * plane);
  pixels.forEach((px, i) => normalizeInto(px, size, data, i * plane));
  return { paths: ok, input: { shape: [ok.length, 3, size, size], data }, failures };
}

export interface EmbeddedBatch {
  paths: string[];
  outputs: Map<string, HostTensor>;
  failures: ImageError[];
}

/** Yields each batch's model outputs; unreadable files are reported in `failures`, never thrown. */
export async function* embedImageFiles(
  embedder: Embedder,
  paths: string[],
  batchSize: number,
  load: PixelLoader = loadRgb,
): AsyncGenerator<EmbeddedBatch> {
  const size = embedder.inputSize;
  const batches: string[][] = [];
  for (let i = 0; i < paths.length; i += batchSize) batches.push(paths.slice(i, i + batchSize));
  let next = batches.length ? decodeBatch(batches[0], size, load) : null;
  for (let b = 0; b < batches.length; b++) {
    const batch = await next!;
    next = b + 1 < batches.length ? decodeBatch(batches[b + 1], size, load) : null;
    const outputs = batch.paths.length ? await embedder.run(batch.input) : new Map<string, HostTensor>();
    yield { paths: batch.paths, outputs, failures: batch.failures };
  }
}

export interface EmbeddedSources {
  /** Sources that embedded, in input order. */
  sources: string[];
  /** Their raw descriptors, sources.length × dim. */
  raw: Float32Array;
  failures: ImageError[];
}

/** Embeds every source (unreadable ones are returned as failures), calling `onProgress` per batch. */
export async function embedAll(
  embedder: Embedder,
  sources: string[],
  batchSize: number,
  load: PixelLoader,
  onProgress?: (settled: number) => void,
): Promise<EmbeddedSources> {
  const ok: string[] = [];
  const parts: Float32Array[] = [];
  const failures: ImageError[] = [];
  for await (const batch of embedImageFiles(embedder, sources, batchSize, load)) {
    ok.push(...batch.paths);
    if (batch.paths.length) parts.push(batch.outputs.get(EMBEDDING_NAME)!.data.slice());
    failures.push(...batch.failures);
    onProgress?.(batch.paths.length + batch.failures.length);
  }
  const raw = new Float32Array(ok.length * embedder.dimensions);
  let offset = 0;
  for (const p of parts) {
    raw.set(p, offset);
    offset += p.length;
  }
  return { sources: ok, raw, failures };
}
