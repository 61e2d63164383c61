/** Runs LGFFEM with onnxruntime-node (CPU): the fast path for every embedding. */
import * as ort from 'onnxruntime-node';
import type { Model } from '../model/types.js';
import { embeddingSize } from '../model/config.js';
import { modelHash } from '../model/identity.js';
import type { HostTensor } from '../model/host-tensor.js';
import type { Embedder } from './embedder.js';
import { cpuSessionOptions } from './ort-options.js';
import { EMBEDDING_NAME, INPUT_NAME, traceOutputNames } from './graph-names.js';
import type { Logger } from '../util/logger.js';
import { cachedSession } from './session-cache.js';

export interface SessionOptions {
  /** Intra-op threads (default: 2, this project's reference machine). */
  threads?: number;
  /** Also return backbone and neck outputs. */
  trace?: boolean;
  /** Hears the model cache's notes (a rebuilt or unwritable cache; default: stderr). */
  logger?: Logger;
}

export class OnnxEmbedder implements Embedder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly model: Model,
    readonly outputNames: string[],
  ) {}

  static async create(model: Model, options: SessionOptions = {}): Promise<OnnxEmbedder> {
    const int8 = model.precision === 'int8';
    const graph = {
      key: `${modelHash(model).slice(0, 24)}-${model.config.inputSize}-${options.trace ? 'trace' : 'embed'}${int8 ? '-int8' : ''}`,
    };
    // The graph builder (and protobuf) load only when the cache cannot serve the session; the int8
    // model is calibrated then too.
    const build = async () => {
      const { buildOnnxModel } = await import('./onnx-graph.js');
      const ranges = int8 ? await (await import('./int8-calibration.js')).calibrateInt8(model, options.threads) : null;
      return buildOnnxModel(model.config, model.weights, {
        trace: options.trace,
        quantization: ranges ? { mode: 'int8', ranges } : undefined,
      });
    };
    const session = await cachedSession(graph, build, cpuSessionOptions(options.threads), undefined, options.logger);
    const outputs = [EMBEDDING_NAME, ...(options.trace ? traceOutputNames(model.config) : [])];
    return new OnnxEmbedder(session, model, outputs);
  }

  get inputSize(): number {
    return this.model.config.inputSize;
  }

  get dimensions(): number {
    return embeddingSize(this.model.config);
  }

  /** Runs a batch of normalised NCHW images ([n, 3, H, W], H and W multiples of 32). */
  async run(input: HostTensor): Promise<Map<string, HostTensor>> {
    const [, channels, height, width] = input.shape;
    if (input.shape.length !== 4 || channels !== 3)
      throw new Error(`model input must be [N, 3, H, W], got [${input.shape.join(', ')}]`);
    if (height % 32 !== 0 || width % 32 !== 0)
      throw new Error(`model input height and width must be multiples of 32, got ${height}×${width}`);
    const feeds = { [INPUT_NAME]: new ort.Tensor('float32', input.data, input.shape) };
    const results = await this.session.run(feeds, this.outputNames);
    const out = new Map<string, HostTensor>();
    for (const name of this.outputNames) {
      const t = results[name];
      out.set(name, { shape: t.dims.map(Number), data: t.data as Float32Array });
    }
    return out;
  }

  /** Raw descriptors f_e ([n, 4C]) of a batch. */
  async embed(input: HostTensor): Promise<HostTensor> {
    return (await this.run(input)).get(EMBEDDING_NAME)!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
