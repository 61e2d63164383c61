/** Worker thread computing one embedding map (UMAP takes seconds: it must not block the server's event loop). */
import { parentPort, workerData } from 'node:worker_threads';
import { project, type ProjectionMethod } from '../map/projection.js';

export interface MapJob {
  vectors: Float32Array;
  n: number;
  dim: number;
  method: ProjectionMethod;
}

const job = workerData as MapJob;
// Every given row is mapped: the server has already chosen the sample.
const { coords } = project(job.vectors, job.n, job.dim, { method: job.method, seed: 1, sample: job.n });
parentPort!.postMessage(coords, [coords.buffer as ArrayBuffer]);
