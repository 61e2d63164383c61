/**
 * The synthetic descriptor space of bench:scale: N unit vectors drawn around a few thousand "base"
 * descriptors (real embeddings of synthetic patches, see scale-bases.ts), plus held-out queries.
 *
 * Row r is normalise(base[b] + σ·g), with b and the Gaussian g drawn from a PRNG seeded by
 * (seed, stream, r) alone: any row, chunk or prefix can be regenerated independently and
 * identically — a resumed build, the streamed ground truth, the FAISS file and an N = 10⁵ index
 * all see the very same rows. Queries come from another stream, so none is ever indexed.
 *
 * σ is chosen so that a drawn vector lies from its base at about the bases' own median
 * nearest-neighbour distance m: with g ⟂ base (nearly so in high d), ‖σg‖ ≈ σ√d, so the angle is
 * θ = atan(σ√d) and the chord 2·sin(θ/2) = m gives σ = tan(2·asin(m/2)) / √d.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { subSeed } from '../src/data/synthetic/rand.js';
import { TISSUE_CLASSES } from '../src/data/synthetic/index.js';
import type { ItemRecord } from '../src/store/types.js';
import { Random } from '../src/util/random.js';
import { median } from './common.js';

const ROW_STREAM = 1;
const QUERY_STREAM = 2;

/** What a build child needs to regenerate the rows: written as JSON next to the bases file. */
export interface SpaceSpec {
  d: number;
  /** Raw little-endian float32 bases, count × d, unit rows. */
  basesFile: string;
  count: number;
  /** Tissue class of each base (the label of rows drawn around it). */
  labels: string[];
  sigma: number;
  seed: number;
  /** Where the bases came from (model, patches), for the results. */
  origin: string;
}

export function writeSpec(file: string, spec: SpaceSpec): void {
  writeFileSync(file, `${JSON.stringify(spec, null, 1)}\n`);
}

/** A raw little-endian float32 file (vectors, queries) as one array. */
export function readFloat32(file: string): Float32Array {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** A raw little-endian int32 file (ground-truth ids) as one array. */
export function readInt32(file: string): Int32Array {
  const bytes = readFileSync(file);
  return new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Writes a typed array's bytes as they are (little-endian on every machine this runs on). */
export function writeRaw(file: string, values: Float32Array | Int32Array): void {
  writeFileSync(file, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

export function normaliseInPlace(row: Float32Array | Float64Array): void {
  let sum = 0;
  for (const v of row) sum += v * v;
  const scale = 1 / Math.max(Math.sqrt(sum), 1e-12);
  for (let j = 0; j < row.length; j++) row[j] *= scale;
}

/** Squared L2 between row i of a and row j of b (both dim-wide). */
function squaredDistance(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  for (let t = 0; t < dim; t++) {
    const diff = a[i * dim + t] - b[j * dim + t];
    s += diff * diff;
  }
  return s;
}

/** Median over the bases of the L2 distance to their nearest other base. */
export function medianNearestNeighbour(bases: Float32Array, dim: number): number {
  const count = bases.length / dim;
  const nearest: number[] = [];
  for (let i = 0; i < count; i++) {
    let best = Infinity;
    for (let j = 0; j < count; j++) if (j !== i) best = Math.min(best, squaredDistance(bases, i, bases, j, dim));
    nearest.push(Math.sqrt(best));
  }
  return median(nearest);
}

/** The noise scale that puts a drawn vector about `distance` (L2, unit vectors) from its base. */
export function sigmaForDistance(distance: number, dim: number): number {
  return Math.tan(2 * Math.asin(Math.min(distance, 1.99) / 2)) / Math.sqrt(dim);
}

/** Seeded unit vectors at random (no embedding): the bases of the CI-size resume test. */
export function randomBases(count: number, dim: number, seed: number): Float32Array {
  const out = new Random(seed).fillNormal(new Float32Array(count * dim));
  for (let i = 0; i < count; i++) normaliseInPlace(out.subarray(i * dim, (i + 1) * dim));
  return out;
}

export class SyntheticSpace {
  private readonly row: Float64Array;

  constructor(
    readonly spec: SpaceSpec,
    private readonly bases: Float32Array,
  ) {
    if (bases.length !== spec.count * spec.d)
      throw new Error(`${spec.basesFile}: holds ${bases.length} values, ${spec.count} bases × ${spec.d} expected`);
    if (spec.labels.length !== spec.count)
      throw new Error(`space spec: ${spec.labels.length} labels for ${spec.count} bases`);
    this.row = new Float64Array(spec.d);
  }

  static load(specFile: string): SyntheticSpace {
    const spec = JSON.parse(readFileSync(specFile, 'utf8')) as SpaceSpec;
    return new SyntheticSpace(spec, readFloat32(spec.basesFile));
  }

  get d(): number {
    return this.spec.d;
  }

  /** Draws vector `index` of `stream` into out (at `offset` rows); returns its base. */
  private draw(stream: number, index: number, out: Float32Array, offset: number): number {
    const { d, sigma, count } = this.spec;
    const rng = new Random(subSeed(this.spec.seed, stream, index));
    const base = rng.int(count);
    const row = this.row;
    for (let j = 0; j < d; j++) row[j] = this.bases[base * d + j] + sigma * rng.normal();
    normaliseInPlace(row);
    out.set(row, offset * d);
    return base;
  }

  /** Rows [first, first + count): unit vectors (count × d) and the base each was drawn around. */
  rows(first: number, count: number): { vectors: Float32Array; bases: Int32Array } {
    const vectors = new Float32Array(count * this.d);
    const bases = new Int32Array(count);
    for (let i = 0; i < count; i++) bases[i] = this.draw(ROW_STREAM, first + i, vectors, i);
    return { vectors, bases };
  }

  /** The held-out queries: drawn the same way from a stream never indexed. */
  queries(count: number): Float32Array {
    const out = new Float32Array(count * this.d);
    for (let i = 0; i < count; i++) this.draw(QUERY_STREAM, i, out, i);
    return out;
  }

  /** Median L2 distance from a drawn vector to its own base, over `sample` rows (the calibration check). */
  medianDistanceToBase(sample: number): number {
    const { vectors, bases } = this.rows(0, sample);
    return median(Array.from(bases, (b, i) => Math.sqrt(squaredDistance(vectors, i, this.bases, b, this.d))));
  }

  /**
   * Metadata of row r: an archive of slides of 100 mosaic patches each (a 10 × 10 grid of 448-px
   * regions), labelled with the tissue class of the row's base.
   */
  items(first: number, bases: Int32Array): ItemRecord[] {
    return Array.from(bases, (base, i) => {
      const row = first + i;
      const slide = `slide-${String(Math.floor(row / 100)).padStart(6, '0')}`;
      const x = 448 * (row % 10);
      const y = 448 * (Math.floor(row / 10) % 10);
      return {
        source: `/archive/slides/${slide}.svs#region=${x},${y},448,448`,
        slide,
        label: this.spec.labels[base],
        collection: '/archive/slides',
        x,
        y,
        width: 448,
        height: 448,
      };
    });
  }
}

/** Labels for bases that have no class of their own (random bases): the tissue classes in turn. */
export function cyclicLabels(count: number): string[] {
  return Array.from({ length: count }, (_, i) => TISSUE_CLASSES[i % TISSUE_CLASSES.length]);
}
