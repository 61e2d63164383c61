/**
 * Worker thread running `NeckPass` on its own tfjs wasm instance (single-threaded in Node), so the
 * neck's part of a training step uses every core. Messages: init → forward → backward → …
 */
import { parentPort } from 'node:worker_threads';
import { initTfjs } from '../engine/tfjs-backend.js';
import type { ModelConfig } from '../model/config.js';
import type { HostTensor } from '../model/host-tensor.js';
import { NeckHead } from './neck-head.js';
import type { HostPyramid } from '../model/host-tensor.js';
import { NeckPass } from './neck-pass.js';

export type WorkerRequest =
  | { type: 'init'; config: ModelConfig; weights: [string, HostTensor][] }
  | { type: 'forward'; params: [string, HostTensor][]; batches: HostPyramid[] }
  | { type: 'backward'; dys: HostPyramid[] };

export type WorkerReply = { ok: true; outputs?: HostPyramid[]; grads?: [string, HostTensor][] } | { ok: false; error: string };

const buffersOf = (tensors: HostTensor[]) => tensors.map((t) => t.data.buffer as ArrayBuffer);

let pass: NeckPass | undefined;

async function handle(request: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  if (request.type === 'init') {
    await initTfjs();
    pass = new NeckPass(new NeckHead(request.config, new Map(request.weights)));
    return { reply: { ok: true }, transfer: [] };
  }
  if (!pass) throw new Error('neck worker used before init');
  if (request.type === 'forward') {
    pass.setParams(new Map(request.params));
    const outputs = pass.forward(request.batches);
    return { reply: { ok: true, outputs }, transfer: buffersOf(outputs.flat()) };
  }
  const grads = [...pass.backward(request.dys)];
  return { reply: { ok: true, grads }, transfer: buffersOf(grads.map(([, t]) => t)) };
}

parentPort!.on('message', (request: WorkerRequest) => {
  handle(request).then(
    ({ reply, transfer }) => parentPort!.postMessage(reply, transfer),
    (err: unknown) => {
      pass?.release();
      parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    },
  );
});
