/**
 * Coalesces concurrent single requests into batches: while one batch runs, new inputs queue up and
 * go together in the next. An exact search scans the whole store per run, so eight queries in one
 * matrix product cost little more than one (the scan is memory-bound); the embedder likewise runs a
 * batch in one call instead of eight runs fighting over its threads. A lone request starts at once,
 * so batching adds no latency when the server is idle.
 */
interface Pending<I, O> {
  input: I;
  resolve(output: O): void;
  reject(err: unknown): void;
}

export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = false;

  constructor(
    private readonly run: (inputs: I[]) => Promise<O[]>,
    private readonly maxBatch: number,
  ) {}

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const outputs = await this.run(batch.map((p) => p.input));
        batch.forEach((p, i) => p.resolve(outputs[i]));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.running = false;
  }
}
