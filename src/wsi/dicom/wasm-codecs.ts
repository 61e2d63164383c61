/**
 * The WebAssembly codecs for JPEG 2000 (OpenJPEG) and JPEG-LS (CharLS), as Cornerstone builds them:
 * their decode-only builds, each loaded once on first use. Their C++ writes its messages to stdout,
 * where histoseek's output (`--json` included) goes; they are caught here instead, and the ones a
 * decode wrote are handed back for its error message.
 */
import { createRequire } from 'node:module';

/** A frame's geometry, as the codecs (decoders and encoders) take and give it. */
export interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

/** A decoder object in WASM memory: its buffers are views of that memory, valid until `delete()`. */
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  /** A copy of the decoded samples. */
  getDecodedBuffer(): Uint8ClampedArray;
  delete(): void;
}
export type J2kDecoder = WasmDecoder;
export interface JpegLsDecoder extends WasmDecoder {
  /** 0: planar (RR…GG…BB…), 1 (line) and 2 (sample): interleaved by pixel in the decoded buffer. */
  getInterleaveMode(): number;
}

interface EmscriptenOptions {
  print(text: string): void;
  printErr(text: string): void;
}
/** What an Emscripten module's package exports: a factory taking the module object's options. */
export type Factory<M> = (options: EmscriptenOptions) => Promise<M>;

/** One WASM module, loaded on first use, with what its C++ last printed. */
class WasmCodec<M> {
  private module: Promise<M> | undefined;
  private messages: string[] = [];

  constructor(private readonly specifier: string) {}

  private load(): Promise<M> {
    const require = createRequire(import.meta.url);
    const factory = require(this.specifier) as Factory<M>;
    const keep = (text: string) => void this.messages.push(text.trim());
    return factory({ print: keep, printErr: keep });
  }

  /**
   * Runs `use` with the module. WASM calls are synchronous, so what the C++ prints while `use` runs
   * is its own: `printed()` returns it (less the [INFO] chatter), for an error message.
   */
  async run<T>(use: (module: M, printed: () => string) => T): Promise<T> {
    this.module ??= this.load();
    const module = await this.module;
    this.messages = [];
    return use(module, () => this.messages.filter((m) => m && !m.startsWith('[INFO]')).join('; '));
  }
}

export const openJpeg = new WasmCodec<{ J2KDecoder: new () => J2kDecoder }>(
  '@cornerstonejs/codec-openjpeg/decodewasmjs',
);
export const charls = new WasmCodec<{ JpegLSDecoder: new () => JpegLsDecoder }>(
  '@cornerstonejs/codec-charls/decodewasmjs',
);
