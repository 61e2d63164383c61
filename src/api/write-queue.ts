/**
 * One write at a time on an index object: add, remove and the index's upkeep run in the order they
 * were called, each after the previous one has settled (a failed write does not stop the next).
 * Two writes at once would interleave their batches in one store; queued, overlapping calls give
 * what calling them one after another gives.
 */
export class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `write` once every write queued before it has settled. */
  run<T>(write: () => Promise<T>): Promise<T> {
    const result = this.tail.then(write, write);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Settles once every write queued so far has. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
