/**
 * NumPy .npy files, read in place: the header is parsed once and rows are read with positioned
 * reads, so a multi-gigabyte PanNuke `images.npy` never has to fit in memory.
 */
import { open, type FileHandle } from 'node:fs/promises';

const MAGIC = '\x93NUMPY';

interface DtypeInfo {
  size: number;
  read(view: DataView, offset: number): number;
}

const NUMERIC: Record<string, DtypeInfo> = {
  f8: { size: 8, read: (v, o) => v.getFloat64(o, true) },
  f4: { size: 4, read: (v, o) => v.getFloat32(o, true) },
  u1: { size: 1, read: (v, o) => v.getUint8(o) },
  i8: { size: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  i4: { size: 4, read: (v, o) => v.getInt32(o, true) },
  i2: { size: 2, read: (v, o) => v.getInt16(o, true) },
};

export class NpyFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly descr: string,
    readonly shape: number[],
    private readonly dataOffset: number,
  ) {}

  static async open(path: string): Promise<NpyFile> {
    const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`${path}: cannot open (${err.code ?? err.message})`);
    });
    try {
      const head = Buffer.alloc(12);
      await handle.read(head, 0, 12, 0);
      if (head.subarray(0, 6).toString('latin1') !== MAGIC) throw new Error(`${path}: not a NumPy .npy file`);
      const major = head[6];
      const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
      const start = major === 1 ? 10 : 12;
      const header = Buffer.alloc(headerLength);
      await handle.read(header, 0, headerLength, start);
      const { descr, fortran, shape } = parseHeader(header.toString('latin1'), path);
      if (fortran) throw new Error(`${path}: Fortran-ordered arrays are not supported`);
      const file = new NpyFile(path, handle, descr, shape, start + headerLength);
      const { size } = await handle.stat();
      if (size < file.dataOffset + file.itemSize * file.rowElements * shape[0]) {
        throw new Error(`${path}: truncated (${size} bytes, the header promises more)`);
      }
      return file;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  get length(): number {
    return this.shape[0];
  }

  get rowElements(): number {
    return this.shape.slice(1).reduce((a, b) => a * b, 1);
  }

  /** Bytes per element. */
  get itemSize(): number {
    const unicode = /^<U(\d+)$/.exec(this.descr);
    if (unicode) return 4 * Number(unicode[1]);
    const bytes = /^\|S(\d+)$/.exec(this.descr);
    if (bytes) return Number(bytes[1]);
    return numericType(this.descr, this.path).size;
  }

  private async readRowBytes(index: number): Promise<Buffer> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length)
      throw new Error(`${this.path}: row ${index} out of range 0..${this.length - 1}`);
    const bytes = this.itemSize * this.rowElements;
    const buffer = Buffer.alloc(bytes);
    await this.handle.read(buffer, 0, bytes, this.dataOffset + index * bytes);
    return buffer;
  }

  /** One row (first axis) as numbers. */
  async readRow(index: number): Promise<Float64Array> {
    const type = numericType(this.descr, this.path);
    const buffer = await this.readRowBytes(index);
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const out = new Float64Array(this.rowElements);
    for (let i = 0; i < out.length; i++) out[i] = type.read(view, i * type.size);
    return out;
  }

  /** Every element of a 1-D string array (`<U` UTF-32 or `|S` bytes). */
  async readStrings(): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < this.length; i++) {
      const raw = await this.readRowBytes(i);
      const text = this.descr.startsWith('<U') ? decodeUtf32(raw) : raw.toString('utf8');
      out.push(text.replace(/\0+$/, ''));
    }
    return out;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function numericType(descr: string, path: string): DtypeInfo {
  const type = /^[<|=]([fiu]\d)$/.exec(descr);
  const info = type ? NUMERIC[type[1]] : undefined;
  if (!info)
    throw new Error(
      `${path}: unsupported dtype '${descr}'${descr.includes('O') ? ' (object arrays need Python pickles; save them as strings)' : ''}`,
    );
  return info;
}

function decodeUtf32(bytes: Buffer): string {
  let text = '';
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    const code = bytes.readUInt32LE(i);
    if (code === 0) break;
    text += String.fromCodePoint(code);
  }
  return text;
}

/** The header is a Python dict literal, e.g. {'descr': '<f8', 'fortran_order': False, 'shape': (3, 256, 256, 3), }. */
function parseHeader(header: string, path: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shape === undefined) throw new Error(`${path}: malformed .npy header`);
  const dims = shape
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 0))
    throw new Error(`${path}: unsupported .npy shape (${shape})`);
  return { descr, fortran: fortran === 'True', shape: dims };
}
