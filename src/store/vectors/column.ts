/**
 * The stored descriptors of an index: one file per plane of the codec (`vectors.f16`, or
 * `vectors.i8` + `vectors.i8-scale`), one fixed-size record per row. Nothing here holds the column
 * in memory: scans read it in chunks and re-ranking reads single rows, positioned, so the page
 * cache is the only full copy.
 */
import { closeSync, existsSync, fsyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HistoseekError } from '../../util/errors.js';
import { vectorCodec, type VectorCodec } from './codec.js';
import type { VectorKind } from '../types.js';

interface PlaneFile {
  path: string;
  bytesPerRow: number;
  fd: number;
}

/** Reads exactly `length` bytes at `position`, or throws naming the file. */
function readFully(file: PlaneFile, into: Uint8Array, offset: number, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(file.fd, into, offset + done, Math.min(length - done, 1 << 30), position + done);
    if (n === 0)
      throw new HistoseekError(
        'INDEX_DAMAGED',
        `${file.path}: ends before byte ${position + length}; the index is damaged`,
      );
    done += n;
  }
}

export class VectorColumn {
  readonly codec: VectorCodec;
  private readonly files: PlaneFile[];

  /** `name`: the files' stem, `vectors` (`raw` reads a format-1 index's raw descriptors). */
  constructor(dir: string, kind: VectorKind, dim: number, writable: boolean, name = 'vectors') {
    this.codec = vectorCodec(kind, dim);
    const opened: PlaneFile[] = [];
    try {
      for (const plane of this.codec.planes) {
        const path = join(dir, `${name}.${plane.suffix}`);
        if (!writable && !existsSync(path))
          throw new HistoseekError(
            'INDEX_DAMAGED',
            `${dir}: the index is damaged (${name}.${plane.suffix} is missing)`,
          );
        opened.push({
          path,
          bytesPerRow: plane.bytesPerRow,
          fd: openSync(path, writable ? (existsSync(path) ? 'r+' : 'w+') : 'r'),
        });
      }
    } catch (err) {
      for (const file of opened) closeSync(file.fd);
      throw err;
    }
    this.files = opened;
  }

  get dim(): number {
    return this.codec.dim;
  }

  get kind(): VectorKind {
    return this.codec.kind;
  }

  /** Whole rows present in every plane. */
  rows(): number {
    return Math.min(...this.files.map((f) => Math.floor(fstatSync(f.fd).size / f.bytesPerRow)));
  }

  /** The planes' file names, for messages. */
  describe(): string {
    return this.files.map((f) => f.path).join(' and ');
  }

  truncate(rows: number): void {
    for (const f of this.files) ftruncateSync(f.fd, rows * f.bytesPerRow);
  }

  /** Writes `rows` unit vectors from row `start` on; a full disk is reported as such. */
  write(start: number, vectors: Float32Array, rows: number): void {
    const encoded = this.codec.encode(vectors, rows);
    this.files.forEach((f, p) => {
      try {
        writeSync(f.fd, encoded[p], 0, encoded[p].byteLength, start * f.bytesPerRow);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC' || code === 'EDQUOT')
          throw new Error(
            `${f.path}: the disk is full; the items committed before this batch are intact — free some space and rerun to resume`,
            { cause: err },
          );
        throw err;
      }
    });
  }

  sync(): void {
    for (const f of this.files) fsyncSync(f.fd);
  }

  /** Empty buffers (one per plane) that `readChunk` can fill with up to `rows` rows. */
  chunkBuffers(rows: number): Uint8Array[] {
    return this.files.map((f) => new Uint8Array(rows * f.bytesPerRow));
  }

  /** Rows [start, start + count) of every plane, read into `buffers` when they are large enough. */
  readChunk(start: number, count: number, buffers?: Uint8Array[]): Uint8Array[] {
    return this.files.map((f, p) => {
      const bytes = count * f.bytesPerRow;
      const into =
        buffers?.[p] && buffers[p].byteLength >= bytes ? buffers[p].subarray(0, bytes) : new Uint8Array(bytes);
      readFully(f, into, 0, bytes, start * f.bytesPerRow);
      return into;
    });
  }

  /** Rows [start, start + count), decoded (count × dim). */
  readDecoded(start: number, count: number): Float32Array {
    const planes = this.readChunk(start, count);
    const out = new Float32Array(count * this.dim);
    for (let i = 0; i < count; i++) this.codec.decodeRow(planes, i, out, i * this.dim);
    return out;
  }

  /** Reads `rows` one by one into one reused record (a buffer per plane) and hands each to `visit`. */
  private eachRow(rows: ArrayLike<number>, visit: (record: Uint8Array[], i: number) => void): void {
    const record = this.files.map((f) => new Uint8Array(f.bytesPerRow));
    for (let i = 0; i < rows.length; i++) {
      this.files.forEach((f, p) => readFully(f, record[p], 0, f.bytesPerRow, rows[i] * f.bytesPerRow));
      visit(record, i);
    }
  }

  /** The decoded rows, in the order given (rows.length × dim). */
  readRows(rows: ArrayLike<number>): Float32Array {
    const out = new Float32Array(rows.length * this.dim);
    this.eachRow(rows, (record, i) => this.codec.decodeRow(record, 0, out, i * this.dim));
    return out;
  }

  /** Each row's dot product with `query` (dim floats), read row by row and never decoded whole. */
  dotRows(rows: ArrayLike<number>, query: Float32Array): Float64Array {
    const out = new Float64Array(rows.length);
    this.eachRow(rows, (record, i) => (out[i] = this.codec.dotRow(record, 0, query)));
    return out;
  }

  close(): void {
    for (const f of this.files) closeSync(f.fd);
  }
}
