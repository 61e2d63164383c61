/**
 * The folder store's searcher, run on worker threads (search-worker.ts): each opens the index
 * folder read-only and answers from the live rows of the moment this searcher was opened, so a
 * search that scans a million rows holds its thread while the event loop goes on serving. Searches
 * queue for the first idle thread; hits come back as rows and distances, errors as the same
 * HistoseekError codes the search would throw in this thread, notes to this side's logger. An idle
 * thread does not keep the process alive; release() ends the threads.
 */
import type { Worker } from 'node:worker_threads';
import { HistoseekError } from '../../util/errors.js';
import { type Logger, STDERR_LOGGER } from '../../util/logger.js';
import { startModuleWorker } from '../../util/module-worker.js';
import type { ItemSearcher, SearcherOptions } from '../item-store.js';
import {
  type FromWorker,
  reviveError,
  type SearchWorkerData,
  type ToWorker,
  unpackHits,
} from './search-worker-protocol.js';
import type { Exclusion, Hit } from '../types.js';
import type { FolderIndex } from './folder-index.js';

/** A released thread that has not ended by then is terminated. */
const EXIT_TIMEOUT_MS = 10_000;

interface Request {
  queries: Float32Array;
  n: number;
  k: number;
  exclude?: Exclusion;
  resolve(hits: Hit[][]): void;
  reject(err: unknown): void;
}

/** One worker thread and the request it is answering, if any. */
class SearchThread {
  current: Request | null = null;
  /** Told when the thread is free again, or has died (`failure` then says why); set by its searcher. */
  onIdle: (thread: SearchThread, failure?: Error) => void = () => {};

  constructor(
    readonly worker: Worker,
    logger: Logger,
  ) {
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'note') logger[message.level](message.text);
      else if (message.type === 'hits') this.finish((r) => r.resolve(unpackHits(message.hits)));
      else if (message.type === 'error') this.finish((r) => r.reject(reviveError(message.error)));
    });
    worker.on('error', (err) => this.die(err));
    worker.on('exit', (code) => this.die(new Error(`the search worker stopped (exit code ${code})`)));
  }

  /**
   * Starts a thread and waits until its searcher is open: a failure to open rejects with the
   * worker's error. The thread's notes go to `logger`.
   */
  static start(data: SearchWorkerData, logger: Logger) {
    const worker = startModuleWorker(import.meta.url, 'search-worker', { workerData: data });
    return new Promise<{ thread: SearchThread; mode: 'exact' | 'two-stage' }>((resolve, reject) => {
      const opening = (message: FromWorker) => {
        if (message.type === 'note') logger[message.level](message.text);
        else if (message.type === 'ready') {
          cleanUp();
          worker.unref();
          resolve({ thread: new SearchThread(worker, logger), mode: message.mode });
        } else if (message.type === 'failed') {
          cleanUp();
          reject(reviveError(message.error));
        }
      };
      const failed = (err: Error) => {
        cleanUp();
        reject(err);
      };
      const exited = (code: number) => failed(new Error(`the search worker exited with code ${code} while opening`));
      const cleanUp = () => {
        worker.off('message', opening);
        worker.off('error', failed);
        worker.off('exit', exited);
      };
      worker.on('message', opening);
      worker.on('error', failed);
      worker.on('exit', exited);
    });
  }

  run(request: Request): void {
    this.current = request;
    const queries = request.queries.slice();
    const message: ToWorker = { type: 'search', queries, n: request.n, k: request.k, exclude: request.exclude };
    // A search under way keeps the process alive, as the promise's caller expects.
    this.worker.ref();
    this.worker.postMessage(message, [queries.buffer]);
  }

  private finish(settle: (request: Request) => void): void {
    const request = this.current!;
    this.current = null;
    this.worker.unref();
    settle(request);
    this.onIdle(this);
  }

  private die(err: Error): void {
    const request = this.current;
    this.current = null;
    request?.reject(err);
    this.onIdle(this, err);
  }

  /** Asks the thread to close its searcher and store, and waits until it has ended. */
  async end(): Promise<void> {
    this.worker.removeAllListeners('exit');
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage({ type: 'release' } satisfies ToWorker);
    const timer = setTimeout(() => void this.worker.terminate(), EXIT_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

export class WorkerSearcher implements ItemSearcher {
  private readonly queue: Request[] = [];
  private readonly idle: SearchThread[] = [];
  private released = false;
  /** Resolves when no request is in flight (release waits for it). */
  private drained: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(
    readonly mode: 'exact' | 'two-stage',
    private threads: SearchThread[],
  ) {
    for (const thread of threads) thread.onIdle = (t, failure) => this.threadIdle(t, failure);
    this.idle.push(...threads);
  }

  /**
   * Opens `workers` threads (default 1) searching `index`'s folder with `settings`, each answering
   * from the rows live now; their notes go to `settings.logger` (default stderr, as Searcher's do).
   * Opening errors (a damaged graph, say) are the ones Searcher.open throws.
   */
  static async open(index: FolderIndex, settings: SearcherOptions = {}, workers = 1): Promise<WorkerSearcher> {
    if (!Number.isInteger(workers) || workers < 1)
      throw new HistoseekError('BAD_OPTION', `search workers must be a positive integer, got ${workers}`);
    const { logger = STDERR_LOGGER, ...search } = settings;
    const data: SearchWorkerData = { dir: index.dir, settings: search, active: index.activeRows() };
    const started = await Promise.allSettled(Array.from({ length: workers }, () => SearchThread.start(data, logger)));
    const opened = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(opened.map(({ thread }) => thread.end()));
      throw failed.reason;
    }
    return new WorkerSearcher(
      opened[0].mode,
      opened.map(({ thread }) => thread),
    );
  }

  search(queries: Float32Array, n: number, o: { k: number; exclude?: Exclusion }): Promise<Hit[][]> {
    if (this.released) return Promise.reject(new HistoseekError('CLOSED', 'search: this searcher was released'));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ queries, n, k: o.k, exclude: o.exclude, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length && this.idle.length) this.idle.pop()!.run(this.queue.shift()!);
  }

  private threadIdle(thread: SearchThread, failure?: Error): void {
    if (failure) {
      // A thread that died (a native crash, say) is not replaced: its error answers what is left.
      this.threads = this.threads.filter((t) => t !== thread);
      this.idle.splice(0, this.idle.length, ...this.idle.filter((t) => t !== thread));
      if (!this.threads.length) {
        this.failure = failure;
        for (const request of this.queue.splice(0)) request.reject(failure);
      }
    } else this.idle.push(thread);
    this.dispatch();
    if (this.drained && this.threads.every((t) => !t.current)) this.drained();
  }

  /** Ends the threads once the searches under way are answered; searches still queued are refused. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const refused = new HistoseekError('CLOSED', 'search: this searcher was released');
    for (const request of this.queue.splice(0)) request.reject(refused);
    if (this.threads.some((t) => t.current)) await new Promise<void>((resolve) => (this.drained = resolve));
    await Promise.all(this.threads.map((t) => t.end()));
  }
}
