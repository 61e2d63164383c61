/** A small least-recently-used cache of promises: concurrent requests for one key share one computation. */
export class LruCache<K, V> {
  private readonly entries = new Map<K, Promise<V>>();

  constructor(private readonly capacity: number) {}

  get(key: K, compute: () => Promise<V>): Promise<V> {
    let value = this.entries.get(key);
    if (value) {
      // Re-insert: a Map iterates in insertion order, so the first key is the least recently used.
      this.entries.delete(key);
    } else {
      value = compute();
      // A failure is not cached: the next request tries again.
      value.catch(() => this.entries.get(key) === value && this.entries.delete(key));
    }
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as K);
    return value;
  }
}
