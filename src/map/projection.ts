/**
 * 2-D maps of a descriptor collection: UMAP (umap-js) or PCA, reproducible from a seed, and the
 * silhouette score that says how well a map separates labelled groups.
 *
 * Rows are scaled to unit length first: retrieval ranks by cosine (docs/model.md#descriptor), and on unit vectors
 * Euclidean distance is a monotone function of cosine, so the map's neighbours are the search's.
 */
import { UMAP } from 'umap-js';
import { Random } from '../util/random.js';

export type ProjectionMethod = 'umap' | 'pca';

/** UMAP's k-nearest-neighbour graph grows as n·log n and its layout as n, in plain JS: beyond this many points a random sample is mapped. */
export const DEFAULT_UMAP_SAMPLE = 5000;
const UMAP_NEIGHBOURS = 15;
const UMAP_MIN_DIST = 0.1;

export interface ProjectOptions {
  method: ProjectionMethod;
  /** Seeds the sample and UMAP's initialisation and negative sampling: same seed, same coordinates. */
  seed: number;
  /**
   * At most this many points are mapped, drawn uniformly without replacement; default
   * DEFAULT_UMAP_SAMPLE for UMAP, every point for PCA (whose cost is linear in n).
   */
  sample?: number;
}

export interface Projection {
  /** m × 2, row i the position of point sampledIndices[i]. */
  coords: Float32Array;
  /** Indices (ascending) of the m mapped points among the n given; all of them when not sampled. */
  sampledIndices: Uint32Array;
}

/** Maps n vectors of `dim` values (row-major) to the plane. */
export function project(vectors: Float32Array, n: number, dim: number, options: ProjectOptions): Projection {
  if (!Number.isInteger(n) || !Number.isInteger(dim) || n < 1 || dim < 1 || vectors.length !== n * dim) {
    throw new RangeError(`project: expected ${n} × ${dim} values, got ${vectors.length}`);
  }
  const random = new Random(options.seed);
  const limit = options.sample ?? (options.method === 'umap' ? DEFAULT_UMAP_SAMPLE : n);
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`project: sample must be a positive integer, got ${limit}`);
  const sampledIndices = sampleIndices(n, limit, random);
  const rows = unitRows(vectors, dim, sampledIndices);
  const coords =
    options.method === 'umap' ? umap(rows, dim, sampledIndices.length, random) : pca(rows, dim, sampledIndices.length);
  return { coords, sampledIndices };
}

/** `limit` of 0..n−1 chosen uniformly without replacement (a partial Fisher–Yates shuffle), ascending. */
function sampleIndices(n: number, limit: number, random: Random): Uint32Array {
  const all = Uint32Array.from({ length: n }, (_, i) => i);
  if (limit >= n) return all;
  for (let i = 0; i < limit; i++) {
    const j = i + random.int(n - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, limit).sort();
}

function unitRows(vectors: Float32Array, dim: number, indices: Uint32Array): Float64Array {
  const out = new Float64Array(indices.length * dim);
  indices.forEach((src, i) => {
    const row = vectors.subarray(src * dim, (src + 1) * dim);
    let norm = 0;
    for (const v of row) norm += v * v;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < dim; k++) out[i * dim + k] = row[k] * scale;
  });
  return out;
}

function umap(rows: Float64Array, dim: number, m: number, random: Random): Float32Array {
  if (m < 3) throw new RangeError(`project: UMAP needs at least 3 points, got ${m} (use PCA)`);
  const data = Array.from({ length: m }, (_, i) => Array.from(rows.subarray(i * dim, (i + 1) * dim)));
  const layout = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(UMAP_NEIGHBOURS, m - 1),
    minDist: UMAP_MIN_DIST,
    random: () => random.uniform(),
  }).fit(data);
  return Float32Array.from(layout.flat());
}

/**
 * Coordinates on the two leading principal axes: the top eigenvectors of the covariance matrix by
 * power iteration (the second with the first projected out). Each axis is signed so that its
 * largest-magnitude component is positive, so the result does not depend on the starting vector.
 */
function pca(rows: Float64Array, dim: number, m: number): Float32Array {
  const mean = new Float64Array(dim);
  for (let i = 0; i < m; i++) for (let k = 0; k < dim; k++) mean[k] += rows[i * dim + k] / m;
  for (let i = 0; i < m; i++) for (let k = 0; k < dim; k++) rows[i * dim + k] -= mean[k];
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < m; i++) {
    const x = rows.subarray(i * dim, (i + 1) * dim);
    for (let a = 0; a < dim; a++) {
      const xa = x[a];
      if (xa === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b] += xa * x[b];
    }
  }
  for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a];
  const axes: Float64Array[] = [];
  for (let c = 0; c < 2; c++) axes.push(leadingEigenvector(cov, dim, axes));
  const coords = new Float32Array(m * 2);
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < 2; c++) {
      let v = 0;
      for (let k = 0; k < dim; k++) v += rows[i * dim + k] * axes[c][k];
      coords[i * 2 + c] = v;
    }
  }
  return coords;
}

const MAX_ITERATIONS = 2000;
const TOLERANCE = 1e-12;

/** Unit eigenvector of the largest eigenvalue of symmetric `matrix` orthogonal to `found`; zeros when none is left (rank exhausted). */
function leadingEigenvector(matrix: Float64Array, dim: number, found: Float64Array[]): Float64Array {
  // A fixed, dense start that no eigenvector is orthogonal to in practice.
  let v = Float64Array.from({ length: dim }, (_, k) => 1 + Math.sin(k + 1));
  const orthogonalise = (x: Float64Array) => {
    for (const u of found) {
      let d = 0;
      for (let k = 0; k < dim; k++) d += x[k] * u[k];
      for (let k = 0; k < dim; k++) x[k] -= d * u[k];
    }
    let norm = 0;
    for (const value of x) norm += value * value;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let k = 0; k < dim; k++) x[k] /= norm;
    return norm;
  };
  if (orthogonalise(v) === 0) return new Float64Array(dim);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    const next = new Float64Array(dim);
    for (let a = 0; a < dim; a++) {
      let s = 0;
      for (let b = 0; b < dim; b++) s += matrix[a * dim + b] * v[b];
      next[a] = s;
    }
    if (orthogonalise(next) < 1e-300) return new Float64Array(dim);
    let change = 0;
    for (let k = 0; k < dim; k++) change += (next[k] - v[k]) ** 2;
    v = next;
    if (change < TOLERANCE) break;
  }
  let largest = 0;
  for (let k = 1; k < dim; k++) if (Math.abs(v[k]) > Math.abs(v[largest])) largest = k;
  if (v[largest] < 0) for (let k = 0; k < dim; k++) v[k] = -v[k];
  return v;
}

/**
 * Mean silhouette (Rousseeuw 1987) of 2-D points grouped by label, in [−1, 1]: per point
 * (b − a) / max(a, b), a its mean distance to its own group, b to the nearest other group; 0 for a
 * point alone in its group (as scikit-learn). O(m²).
 */
export function silhouetteScore(coords: Float32Array, labels: readonly string[]): number {
  const m = labels.length;
  if (coords.length !== 2 * m)
    throw new RangeError(`silhouette: ${labels.length} labels for ${coords.length / 2} points`);
  const names = [...new Set(labels)];
  if (names.length < 2 || names.length >= m)
    throw new RangeError(`silhouette: needs 2 to ${m - 1} distinct labels, got ${names.length}`);
  const index = new Map(names.map((name, g) => [name, g]));
  const group = labels.map((l) => index.get(l)!);
  const sizes = names.map((_, g) => group.filter((x) => x === g).length);
  let total = 0;
  const sums = new Float64Array(names.length);
  for (let i = 0; i < m; i++) {
    sums.fill(0);
    for (let j = 0; j < m; j++) {
      if (i !== j) sums[group[j]] += Math.hypot(coords[2 * i] - coords[2 * j], coords[2 * i + 1] - coords[2 * j + 1]);
    }
    const own = group[i];
    if (sizes[own] === 1) continue;
    const a = sums[own] / (sizes[own] - 1);
    let b = Infinity;
    for (let g = 0; g < names.length; g++) if (g !== own) b = Math.min(b, sums[g] / sizes[g]);
    total += (b - a) / Math.max(a, b) || 0;
  }
  return total / m;
}
