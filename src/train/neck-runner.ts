/**
 * Where the neck's part of a training step runs: in this thread (`LocalNeckRunner`) or split across
 * worker threads, each with its own single-threaded tfjs wasm instance (`WorkerNeckRunner`).
 * Both give the same gradients: micro-batches are independent in the neck.
 */
import { Worker } from 'node:worker_threads';
import type { HostTensor } from '../model/host-tensor.js';
import type { NeckHead } from './neck-head.js';
import type { HostPyramid } from '../model/host-tensor.js';
import { NeckPass, toHost } from './neck-pass.js';
import type { WorkerReply, WorkerRequest } from './neck-worker.js';

export interface NeckRunner {
  /** Neck outputs of each micro-batch of backbone features, with the model's current parameters. */
  forward(microBatches: HostPyramid[]): Promise<HostPyramid[]>;
  /** Neck parameter gradients summed over the last forward's micro-batches, given their output gradients. */
  backward(dys: HostPyramid[]): Promise<Map<string, HostTensor>>;
  close(): Promise<void>;
}

export class LocalNeckRunner implements NeckRunner {
  private readonly pass: NeckPass;

  constructor(model: NeckHead) {
    this.pass = new NeckPass(model);
  }

  async forward(microBatches: HostPyramid[]): Promise<HostPyramid[]> {
    return this.pass.forward(microBatches);
  }

  async backward(dys: HostPyramid[]): Promise<Map<string, HostTensor>> {
    return this.pass.backward(dys);
  }

  async close(): Promise<void> {
    this.pass.release();
  }
}

/**
 * Starts the worker script next to this module. Compiled, it is plain JS; run from source (tests,
 * benchmarks under tsx), the worker first registers tsx's loader, which threads do not inherit.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./neck-worker.js', import.meta.url));
  const script = new URL('./neck-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(script)}); });`;
  return new Worker(bootstrap, { eval: true });
}

class NeckWorker {
  private readonly worker: Worker;
  private pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void } | null = null;

  constructor() {
    this.worker = startWorker();
    this.worker.on('message', (reply: WorkerReply) => this.settle((p) => p.resolve(reply)));
    this.worker.on('error', (err) => this.settle((p) => p.reject(err)));
    this.worker.on('exit', (code) => this.settle((p) => p.reject(new Error(`neck worker exited with code ${code}`))));
  }

  private settle(action: (p: NonNullable<NeckWorker['pending']>) => void): void {
    const p = this.pending;
    this.pending = null;
    if (p) action(p);
  }

  async request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(message, transfer);
    });
    if (!reply.ok) throw new Error(`neck worker: ${reply.error}`);
    return reply;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class WorkerNeckRunner implements NeckRunner {
  private assignment: number[][] = [];

  private constructor(
    private readonly model: NeckHead,
    private readonly workers: NeckWorker[],
  ) {}

  /** Starts `count` workers holding a copy of the model's neck and head. */
  static async start(model: NeckHead, count: number, weights: Map<string, HostTensor>): Promise<WorkerNeckRunner> {
    const workers = Array.from({ length: count }, () => new NeckWorker());
    const init = [...weights].filter(([name]) => !name.startsWith('backbone.'));
    await Promise.all(workers.map((w) => w.request({ type: 'init', config: model.config, weights: init })));
    return new WorkerNeckRunner(model, workers);
  }

  async forward(microBatches: HostPyramid[]): Promise<HostPyramid[]> {
    const params = [...this.model.variables].filter(([name]) => name.startsWith('neck.')).map(([name, v]) => [name, toHost(v)] as [string, HostTensor]);
    // Contiguous shares keep each worker's micro-batches together.
    const n = this.workers.length;
    this.assignment = this.workers.map((_, w) => microBatches.map((_, m) => m).filter((m) => Math.floor((m * n) / microBatches.length) === w));
    const replies = await Promise.all(
      this.workers.map((worker, w) => worker.request({ type: 'forward', params, batches: this.assignment[w].map((m) => microBatches[m]) })),
    );
    const outputs: HostPyramid[] = new Array(microBatches.length);
    replies.forEach((reply, w) => this.assignment[w].forEach((m, i) => (outputs[m] = reply.outputs![i])));
    return outputs;
  }

  async backward(dys: HostPyramid[]): Promise<Map<string, HostTensor>> {
    const replies = await Promise.all(this.workers.map((worker, w) => worker.request({ type: 'backward', dys: this.assignment[w].map((m) => dys[m]) })));
    const sums = new Map<string, HostTensor>();
    for (const reply of replies) {
      for (const [name, g] of reply.grads!) {
        const sum = sums.get(name);
        if (!sum) sums.set(name, g);
        else for (let i = 0; i < g.data.length; i++) sum.data[i] += g.data[i];
      }
    }
    return sums;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
