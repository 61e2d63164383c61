/**
 * Runs a Vision Transformer encoder (model/vit.ts) with onnxruntime-node on the CPU, at fp32 or
 * int8: the descriptor is the ViT's own pooled features (no neck, no head).
 */
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import type { VitEncoderSpec } from '../model/encoder.js';
import type { HostTensor } from '../model/host-tensor.js';
import type { Precision } from '../model/types.js';
import { vitDescriptorSize } from '../model/vit-config.js';
import { vitGrid, vitWeightsForInput } from '../model/vit-weights.js';
import type { Embedder } from './embedder.js';
import { EMBEDDING_NAME, INPUT_NAME } from './graph-names.js';
import { cpuSessionOptions } from './ort-options.js';
import type { Logger } from '../util/logger.js';
import { cachedSession } from './session-cache.js';

export interface VitSessionOptions {
  /** Intra-op threads (default: 2, this project's reference machine). */
  threads?: number;
  /** fp32, or every linear map of the blocks in int8 (calibrated like LGFFEM's: engine/int8-calibration.ts). */
  precision?: Precision;
  /** The input side in pixels, a multiple of the patch size (default: the one the model was trained at). */
  inputSize?: number;
  /** Hears the model cache's notes (a rebuilt or unwritable cache; default: stderr). */
  logger?: Logger;
}

/**
 * Float weights past this many bytes cannot travel in one protobuf message (2 GiB, less room for
 * the graph): Virchow2, UNI2-h, H-optimus and Prov-GigaPath at fp32. Their float graphs hold the
 * weights as external data; the int8 graph, a quarter of the size, fits.
 */
const INLINE_FLOAT_BYTES = 1.5 * 2 ** 30;
/** Which tensors of such a graph go outside it: all but the small ones (norms, biases, tokens). */
const EXTERNAL_FROM_BYTES = 2 ** 20;

export class VitEmbedder implements Embedder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: VitEncoderSpec,
    readonly inputSize: number,
    readonly precision: Precision,
  ) {}

  /**
   * The session for `spec` at one input size and precision, from the model cache when it holds it
   * (keyed by the checkpoint's SHA-256, the architecture, the input size and the precision).
   */
  static async create(spec: VitEncoderSpec, options: VitSessionOptions = {}): Promise<VitEmbedder> {
    const inputSize = options.inputSize ?? spec.arch.imageSize;
    vitGrid(spec.arch, inputSize);
    const precision = options.precision ?? 'fp32';
    const sessionOptions = cpuSessionOptions(options.threads);
    const floatBytes = [...spec.weights.values()].reduce((sum, t) => sum + t.data.byteLength, 0);
    const external = floatBytes > INLINE_FLOAT_BYTES;
    // The graph builder loads, and the int8 model is calibrated, only when the cache cannot serve the session.
    const floatGraph = async (calibrate: boolean) => {
      const { buildVitOnnxModel } = await import('./onnx-graph.js');
      const weights = vitWeightsForInput(spec.arch, spec.weights, inputSize, spec.name);
      return buildVitOnnxModel(spec.arch, weights, {
        externalFrom: external ? EXTERNAL_FROM_BYTES : undefined,
        quantization: calibrate ? { mode: 'calibrate' } : undefined,
      });
    };
    const arch = createHash('sha256').update(JSON.stringify(spec.arch)).digest('hex').slice(0, 8);
    const graph = { key: `vit-${spec.sha256.slice(0, 24)}-${arch}-${inputSize}-${precision}` };
    const build = async () => {
      if (precision === 'fp32') return external ? floatGraph(false) : (await floatGraph(false)).model;
      const [{ buildVitOnnxModel }, { probeRanges }] = await Promise.all([
        import('./onnx-graph.js'),
        import('./int8-calibration.js'),
      ]);
      const ranges = await probeRanges(await floatGraph(true), inputSize, options.threads);
      const weights = vitWeightsForInput(spec.arch, spec.weights, inputSize, spec.name);
      return buildVitOnnxModel(spec.arch, weights, { quantization: { mode: 'int8', ranges } }).model;
    };
    const session = await cachedSession(graph, build, sessionOptions, undefined, options.logger);
    return new VitEmbedder(session, spec, inputSize, precision);
  }

  get dimensions(): number {
    return vitDescriptorSize(this.spec.arch);
  }

  /** Runs a batch of ImageNet-normalised NCHW images [n, 3, S, S] (S = inputSize): `embedding` [n, dimensions]. */
  async run(input: HostTensor): Promise<Map<string, HostTensor>> {
    const [, channels, height, width] = input.shape;
    const size = this.inputSize;
    if (input.shape.length !== 4 || channels !== 3 || height !== size || width !== size)
      throw new Error(`${this.spec.name}: input must be [N, 3, ${size}, ${size}], got [${input.shape.join(', ')}]`);
    const feeds = { [INPUT_NAME]: new ort.Tensor('float32', input.data, input.shape) };
    const t = (await this.session.run(feeds, [EMBEDDING_NAME]))[EMBEDDING_NAME];
    return new Map([[EMBEDDING_NAME, { shape: t.dims.map(Number), data: t.data as Float32Array }]]);
  }

  /** The descriptors [n, dimensions] of a batch. */
  async embed(input: HostTensor): Promise<HostTensor> {
    return (await this.run(input)).get(EMBEDDING_NAME)!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
