/**
 * Embeds the server's query images: concurrent queries go together in one batch on every thread
 * (see Batcher), and a lone query runs on whichever session is faster for one image. For a small
 * model that is one thread — waking a second thread for each of its many small operations costs
 * more than it saves (default model: median 5.9 vs 6.2 ms, p95 6.2 vs 6.9 ms) — for a large model it
 * is all threads; the server times both when it starts instead of guessing.
 */
import { createEmbedder, type ModelEmbedder } from '../engine/embedders.js';
import { normaliseRows } from '../index/indexer.js';
import { Batcher } from './batcher.js';

/** Images embedded in one run at most. */
const EMBED_BATCH = 8;
/** Timed single-image runs per session when choosing (after one untimed each), alternating between the two. */
const CALIBRATION_RUNS = 15;

/** Median single-image time of each embedder, their runs interleaved so that the machine's drift hits both alike. */
async function medianSingleImageMs(embedders: ModelEmbedder[]): Promise<number[]> {
  const size = embedders[0].inputSize;
  const input = { shape: [1, 3, size, size], data: new Float32Array(3 * size * size) };
  for (const embedder of embedders) await embedder.embed(input);
  const times = embedders.map((): number[] => []);
  for (let i = 0; i < CALIBRATION_RUNS; i++) {
    for (const [k, embedder] of embedders.entries()) {
      const start = performance.now();
      await embedder.embed(input);
      times[k].push(performance.now() - start);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[CALIBRATION_RUNS >> 1]);
}

export class QueryEmbedder {
  private readonly batcher: Batcher<Float32Array, Float32Array>;

  private constructor(
    private readonly batched: ModelEmbedder,
    private readonly lone: ModelEmbedder,
  ) {
    this.batcher = new Batcher((inputs) => this.run(inputs), EMBED_BATCH);
  }

  /**
   * Takes over `embedder` (running on `threads` threads); with more than one, also opens a
   * one-thread session and keeps it for lone queries if it is the faster. `log` hears the choice.
   */
  static async create(
    embedder: ModelEmbedder,
    threads: number,
    log: (message: string) => void,
  ): Promise<QueryEmbedder> {
    if (threads <= 1) return new QueryEmbedder(embedder, embedder);
    const single = await createEmbedder(embedder.model, { threads: 1 });
    const [many, one] = await medianSingleImageMs([embedder, single]);
    const useSingle = one < many;
    log(
      `one query image: ${one.toFixed(1)} ms on 1 thread, ${many.toFixed(1)} ms on ${threads}; lone queries run on ${useSingle ? '1 thread' : `${threads} threads`}`,
    );
    if (!useSingle) await single.release();
    return new QueryEmbedder(embedder, useSingle ? single : embedder);
  }

  /** The side S of the model's S × S input. */
  get inputSize(): number {
    return this.batched.inputSize;
  }

  /** The normalised descriptor of one preprocessed image (3 × S × S, see normalizeInto). */
  embed(input: Float32Array): Promise<Float32Array> {
    return this.batcher.submit(input);
  }

  private async run(inputs: Float32Array[]): Promise<Float32Array[]> {
    const size = this.inputSize;
    const plane = 3 * size * size;
    let batch = inputs[0];
    if (inputs.length > 1) {
      batch = new Float32Array(inputs.length * plane);
      inputs.forEach((input, i) => batch.set(input, i * plane));
    }
    const embedder = inputs.length === 1 ? this.lone : this.batched;
    const raw = await embedder.embed({ shape: [inputs.length, 3, size, size], data: batch });
    const dim = embedder.dimensions;
    const vectors = normaliseRows(raw.data, dim);
    return inputs.map((_, i) => vectors.subarray(i * dim, (i + 1) * dim));
  }

  async release(): Promise<void> {
    await this.batched.release();
    if (this.lone !== this.batched) await this.lone.release();
  }
}
