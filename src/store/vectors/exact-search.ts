/**
 * Exact k-nearest-neighbour search over L2-normalised descriptors.
 *
 * Scores are one matrix product Q·Xᵀ followed by TopK, run as a small ONNX graph on onnxruntime's
 * MLAS GEMM: multi-threaded, and at the machine's memory bandwidth for a single query. Stored rows
 * in float16 or int8 are cast to float32 inside the graph (int8 rows then scaled by their per-row
 * scale), one chunk at a time. Float16 rows go in as their uint16 bits and are BitCast back in the
 * graph: on Node.js ≥ 24, which has Float16Array, onnxruntime-common turns a float16 tensor's data
 * into a Float16Array that onnxruntime-node's binding reads as 0 bytes (microsoft/onnxruntime#32323).
 * The database is a graph input fed each call as an `ort.Tensor` over a view of the caller's rows
 * (in memory, or a chunk just read from the index's vector files), so nothing is copied; an
 * initializer would be prepacked by onnxruntime (a second copy of the store) for little gain. The
 * store is scanned in chunks of rows and the query batch in blocks, so the score matrix
 * onnxruntime materialises stays bounded whatever the store's size; per-chunk top-k lists are
 * merged here. usearch's exactSearch is not used: it is slower, far slower per query in batches,
 * and reads typed-array views from their buffer's start (it ignores byteOffset); a plain JS loop is
 * slower still.
 *
 * For unit vectors the squared L2 distance is 2 − 2·cos; that is what is reported, as FAISS
 * IndexFlatL2 does. Results are ordered by distance, then id, so they are deterministic.
 */
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { cpuSessionOptions } from '../../engine/ort-options.js';
import { cachedSession, sessionCacheDir } from '../../engine/session-cache.js';
import type { Logger } from '../../util/logger.js';
import type OnnxProto from 'onnx-proto';
import type { onnx as proto } from 'onnx-proto';
import type { VectorKind } from '../types.js';
import type { VectorColumn } from './column.js';

/** onnx-proto (CommonJS, with protobufjs) loads only when the search graph is built, not when the cache holds it. */
let onnxModule: typeof OnnxProto.onnx | undefined;
const onnxProto = () => (onnxModule ??= (createRequire(import.meta.url)('onnx-proto') as typeof OnnxProto).onnx);

export interface SearchHits {
  /** [queries × k], row-major; -1 where fewer than k items qualify. */
  ids: Int32Array;
  /** Squared L2 distances, aligned with `ids`; Infinity where the id is -1. */
  distances: Float32Array;
  k: number;
}

export interface ExactSearchOptions {
  /** Intra-op threads (default: 2, this project's reference machine). */
  threads?: number;
  /** Database rows scored per graph run (default: 16 MiB of float32 rows, e.g. 16 384 at 256-d). */
  chunkRows?: number;
  /** Hears the model cache's notes (default: stderr, as the session cache does). */
  logger?: Logger;
}

/**
 * Float32 bytes of database rows per graph run. onnxruntime allocates the cast rows afresh each run,
 * so large chunks cost more in allocation than they save in runs; 16 MiB was the fastest measured
 * (docs/performance.md#search-defaults-and-why).
 */
const CHUNK_BYTES = 16 << 20;
/** Caps the scores onnxruntime holds for one run (query block × chunk rows) at 64 MiB. */
const MAX_SCORES_PER_RUN = 1 << 24;
const MAX_ID = 2 ** 31 - 1;
/**
 * Part of the cached graph's name, raised with every change to buildSearchGraph: the session cache's
 * fingerprint covers src/engine/ and src/model/, not this file. 2: float16 rows fed as uint16 bits.
 */
const GRAPH_VERSION = 2;

const QUERIES = 'queries';
const DATABASE = 'database';
const K = 'k';
const SCALES = 'scales';
const SCORES = 'scores';
const INDICES = 'indices';

function tensorInfo(name: string, elemType: number, dims: (number | string)[]): proto.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function intAttribute(name: string, i: number): proto.IAttributeProto {
  return { name, type: onnxProto().AttributeProto.AttributeType.INT, i };
}

/**
 * queries [Q, dim], database [N, dim] (float32, float16 as its uint16 bits, or int8 with scales
 * [N]), k [1] → the k largest cosines per query and their rows, best first.
 */
function buildSearchGraph(dim: number, kind: VectorKind): Uint8Array {
  const onnx = onnxProto();
  const { FLOAT, FLOAT16, INT8, INT64, UINT16 } = onnx.TensorProto.DataType;
  const stored = { f32: FLOAT, f16: UINT16, i8: INT8 }[kind];
  const decode: proto.INodeProto[] = [];
  if (kind === 'f16')
    decode.push({
      opType: 'BitCast',
      input: [DATABASE],
      output: ['halves'],
      name: 'halves',
      attribute: [intAttribute('to', FLOAT16)],
    });
  if (kind !== 'f32')
    decode.push({
      opType: 'Cast',
      input: [kind === 'f16' ? 'halves' : DATABASE],
      output: ['rows'],
      name: 'rows',
      attribute: [intAttribute('to', FLOAT)],
    });
  const product = kind === 'i8' ? 'unscaled' : 'cosines';
  const scale: proto.INodeProto[] =
    kind === 'i8' ? [{ opType: 'Mul', input: ['unscaled', SCALES], output: ['cosines'], name: 'scale' }] : [];
  const model: proto.IModelProto = {
    irVersion: 9,
    producerName: 'histoseek',
    opsetImport: [{ domain: '', version: 26 }], // BitCast came with opset 26
    graph: {
      name: 'exact_search',
      node: [
        ...decode,
        {
          opType: 'Gemm',
          input: [QUERIES, kind === 'f32' ? DATABASE : 'rows'],
          output: [product],
          name: 'cosines',
          attribute: [intAttribute('transB', 1)],
        },
        ...scale,
        // ONNX TopK keeps the lower index first among equal values, so chunks come back deterministic.
        {
          opType: 'TopK',
          input: ['cosines', K],
          output: [SCORES, INDICES],
          name: 'topk',
          attribute: [intAttribute('axis', 1), intAttribute('largest', 1), intAttribute('sorted', 1)],
        },
      ],
      input: [
        tensorInfo(QUERIES, FLOAT, ['Q', dim]),
        tensorInfo(DATABASE, stored, ['N', dim]),
        tensorInfo(K, INT64, [1]),
        ...(kind === 'i8' ? [tensorInfo(SCALES, FLOAT, ['N'])] : []),
      ],
      output: [tensorInfo(SCORES, FLOAT, ['Q', 'K']), tensorInfo(INDICES, INT64, ['Q', 'K'])],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Chunk `rows` rows from `start` as the graph's database inputs. */
type ChunkSource = (start: number, rows: number) => Record<string, ort.Tensor>;

function chunkTensors(kind: VectorKind, dim: number, planes: Uint8Array[], rows: number): Record<string, ort.Tensor> {
  const [data, scales] = planes;
  if (kind === 'f32')
    return {
      [DATABASE]: new ort.Tensor('float32', new Float32Array(data.buffer, data.byteOffset, rows * dim), [rows, dim]),
    };
  if (kind === 'f16')
    return {
      [DATABASE]: new ort.Tensor('uint16', new Uint16Array(data.buffer, data.byteOffset, rows * dim), [rows, dim]),
    };
  return {
    [DATABASE]: new ort.Tensor('int8', new Int8Array(data.buffer, data.byteOffset, rows * dim), [rows, dim]),
    [SCALES]: new ort.Tensor('float32', new Float32Array(scales.buffer, scales.byteOffset, rows), [rows]),
  };
}

/** Each query's best k so far, sorted by (distance, id); new candidates are insertion-sorted in. */
class BestK {
  readonly ids: Int32Array;
  readonly distances: Float32Array;

  constructor(
    nQueries: number,
    readonly k: number,
  ) {
    this.ids = new Int32Array(nQueries * k).fill(-1);
    this.distances = new Float32Array(nQueries * k).fill(Infinity);
  }

  /** The distance a candidate of `query` must not exceed to be kept. */
  worst(query: number): number {
    return this.distances[query * this.k + this.k - 1];
  }

  offer(query: number, id: number, distance: number): void {
    const base = query * this.k;
    const { ids, distances } = this;
    let slot = this.k - 1;
    const before = (i: number) =>
      distance < distances[i] || (distance === distances[i] && (ids[i] === -1 || id < ids[i]));
    if (!before(base + slot)) return;
    while (slot > 0 && before(base + slot - 1)) {
      ids[base + slot] = ids[base + slot - 1];
      distances[base + slot] = distances[base + slot - 1];
      slot--;
    }
    ids[base + slot] = id;
    distances[base + slot] = distance;
  }
}

export class ExactSearch {
  /**
   * Read buffers of finished scans, kept for the next: a chunk allocated afresh for every query
   * counts as V8 external memory, and makes V8 run a full garbage collection every few queries.
   */
  private readonly spareBuffers: Uint8Array[][] = [];

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    readonly chunkRows: number,
    readonly kind: VectorKind,
  ) {}

  /** A search over rows stored as `kind` (default float32). */
  static async create(dim: number, options: ExactSearchOptions & { kind?: VectorKind } = {}): Promise<ExactSearch> {
    const chunkRows = options.chunkRows ?? Math.max(1, Math.floor(CHUNK_BYTES / (4 * dim)));
    const kind = options.kind ?? 'f32';
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`dimension must be a positive integer, got ${dim}`);
    if (!Number.isInteger(chunkRows) || chunkRows < 1)
      throw new Error(`chunkRows must be a positive integer, got ${chunkRows}`);
    const session = await cachedSession(
      { key: `exact-search-${GRAPH_VERSION}-${dim}-${kind}` },
      async () => buildSearchGraph(dim, kind),
      cpuSessionOptions(options.threads),
      sessionCacheDir(),
      options.logger,
    );
    return new ExactSearch(session, dim, chunkRows, kind);
  }

  /** Exact search over float32 rows held in memory (see `scan` for rows in an index's files). */
  async search(
    database: Float32Array,
    count: number,
    queries: Float32Array,
    nQueries: number,
    k: number,
    exclude?: (id: number) => boolean,
  ): Promise<SearchHits> {
    if (this.kind !== 'f32')
      throw new Error(`search takes float32 rows; this search reads ${this.kind} rows (use scan)`);
    if (database.length < count * this.dim)
      throw new Error(`database holds ${database.length / this.dim} rows of ${this.dim}, fewer than count ${count}`);
    const bytes = new Uint8Array(database.buffer, database.byteOffset, database.byteLength);
    const source: ChunkSource = (start, rows) =>
      chunkTensors('f32', this.dim, [bytes.subarray(start * this.dim * 4)], rows);
    return this.run(source, 0, count, queries, nQueries, k, exclude);
  }

  /**
   * Exact search over rows [start, end) of an index's vector column, read chunk by chunk into one
   * reused buffer: the column is never held in memory. Ids are row numbers.
   */
  async scan(
    column: VectorColumn,
    start: number,
    end: number,
    queries: Float32Array,
    nQueries: number,
    k: number,
    exclude?: (id: number) => boolean,
  ): Promise<SearchHits> {
    if (column.kind !== this.kind || column.dim !== this.dim)
      throw new Error(
        `this search reads ${this.dim}-d ${this.kind} rows, the column holds ${column.dim}-d ${column.kind}`,
      );
    // Concurrent scans each take their own buffers; a chunk's rows must stay put until its run ends.
    const buffers = this.spareBuffers.pop() ?? column.chunkBuffers(this.chunkRows);
    const source: ChunkSource = (first, rows) =>
      chunkTensors(this.kind, this.dim, column.readChunk(first, rows, buffers), rows);
    let hits: SearchHits;
    try {
      hits = await this.run(source, start, end - start, queries, nQueries, k, exclude && ((id) => exclude(id + start)));
    } finally {
      this.spareBuffers.push(buffers);
    }
    for (let i = 0; i < hits.ids.length; i++) if (hits.ids[i] >= 0) hits.ids[i] += start;
    return hits;
  }

  /**
   * The k nearest of `count` rows (ids 0…count−1, fed chunk by chunk by `source`) to each of
   * `nQueries` rows of `queries`. Rows for which `exclude` is true never appear; each chunk's TopK
   * is widened by the number of excluded rows it holds, so k valid rows come back whenever that many exist.
   */
  private async run(
    source: ChunkSource,
    first: number,
    count: number,
    queries: Float32Array,
    nQueries: number,
    k: number,
    exclude?: (id: number) => boolean,
  ): Promise<SearchHits> {
    const { dim, chunkRows } = this;
    if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
    if (!Number.isInteger(count) || count < 0 || count > MAX_ID)
      throw new Error(`count must be an integer in [0, 2^31), got ${count}`);
    if (!Number.isInteger(nQueries) || nQueries < 0)
      throw new Error(`nQueries must be a non-negative integer, got ${nQueries}`);
    if (queries.length < nQueries * dim)
      throw new Error(`queries hold ${queries.length / dim} rows of ${dim}, fewer than nQueries ${nQueries}`);

    const best = new BestK(nQueries, k);
    const chunks: { start: number; rows: number; width: number }[] = [];
    for (let start = 0; start < count; start += chunkRows) {
      const rows = Math.min(chunkRows, count - start);
      let excluded = 0;
      if (exclude) for (let id = start; id < start + rows; id++) if (exclude(id)) excluded++;
      chunks.push({ start, rows, width: Math.min(rows, k + excluded) });
    }

    const queryBlock = Math.max(1, Math.floor(MAX_SCORES_PER_RUN / Math.min(chunkRows, Math.max(count, 1))));
    for (let q0 = 0; q0 < nQueries; q0 += queryBlock) {
      const blockSize = Math.min(queryBlock, nQueries - q0);
      const queryTensor = new ort.Tensor('float32', queries.subarray(q0 * dim, (q0 + blockSize) * dim), [
        blockSize,
        dim,
      ]);
      for (const { start, rows, width } of chunks) {
        const out = await this.session.run({
          [QUERIES]: queryTensor,
          ...source(first + start, rows),
          [K]: new ort.Tensor('int64', BigInt64Array.of(BigInt(width)), [1]),
        });
        const scores = out[SCORES].data as Float32Array;
        const indices = out[INDICES].data as BigInt64Array;
        for (let q = 0; q < blockSize; q++) {
          const query = q0 + q;
          for (let j = q * width; j < (q + 1) * width; j++) {
            // Math.fround: rank by the float32 distance that is reported.
            const distance = Math.fround(Math.max(0, 2 - 2 * scores[j]));
            // Candidates come best first, so once one is strictly worse than the k-th, all the rest are.
            if (distance > best.worst(query)) break;
            const id = start + Number(indices[j]);
            if (!exclude?.(id)) best.offer(query, id, distance);
          }
        }
      }
    }
    return { ids: best.ids, distances: best.distances, k };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
