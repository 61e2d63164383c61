/**
 * The embedding map: live items placed on the plane by UMAP or PCA (src/map), computed in a worker
 * thread once per index generation and method. Large indexes are mapped through an evenly spaced
 * sample of MAP_SAMPLE rows (UMAP's cost grows faster than linearly). The answer's shape is
 * mapSchema (schemas.ts).
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/module-worker.js';
import type { ProjectionMethod } from '../map/projection.js';
import type { MapJob } from './map-worker.js';
import { MAP_SAMPLE, type MapJson } from '../api/schemas.js';

function startWorker(job: MapJob): Worker {
  return startModuleWorker(import.meta.url, 'map-worker', {
    workerData: job,
    transferList: [job.vectors.buffer as ArrayBuffer],
  });
}

function runWorker(job: MapJob): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(job);
    worker.once('message', (coords: Float32Array) => {
      resolve(coords);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the map worker exited with code ${code}`)));
  });
}

/** Rows to map: all live rows (ascending), or MAP_SAMPLE of them evenly spaced (deterministic). */
export function mapRows(live: number[]): number[] {
  if (live.length <= MAP_SAMPLE) return live;
  return Array.from({ length: MAP_SAMPLE }, (_, i) => live[Math.floor((i * live.length) / MAP_SAMPLE)]);
}

export async function embeddingMap(
  method: ProjectionMethod,
  rows: number[],
  labels: string[],
  items: number,
  vectors: Float32Array,
  dim: number,
): Promise<MapJson> {
  const coords = rows.length === 0 ? new Float32Array(0) : await runWorker({ vectors, n: rows.length, dim, method });
  return {
    method,
    items,
    sampled: rows.length,
    points: rows.map((id, i) => ({ id, x: coords[2 * i], y: coords[2 * i + 1], label: labels[i] })),
  };
}
