/**
 * The one place that picks how a model runs: LGFFEM on its own backbone (OnnxEmbedder), LGFFEM's
 * neck and head on an ONNX encoder's pyramid, or an encoder's own features (an ONNX file, a
 * Vision Transformer). Everything that embeds images asks here.
 */
import type { Model } from '../model/types.js';
import { embeddingSize } from '../model/config.js';
import { isFeatureModel, type EmbeddingModel } from '../model/embedding-model.js';
import type { OnnxEncoderSpec } from '../model/encoder.js';
import type { HostTensor } from '../model/host-tensor.js';
import type { Logger } from '../util/logger.js';
import type { Embedder } from './embedder.js';
import { EMBEDDING_NAME } from './graph-names.js';
import { OnnxEncoderEmbedder, OnnxPyramidSession, probeOnnxEncoder, type OnnxEncoderProbe } from './onnx-encoder.js';
import { NeckHeadSession } from './onnx-parts.js';
import { OnnxEmbedder } from './onnx-session.js';
import { VitEmbedder } from './vit-session.js';

export interface EmbedderOptions {
  /** Intra-op threads (default: 2, this project's reference machine). */
  threads?: number;
  /** Also return LGFFEM's backbone and neck outputs (its own backbone only). */
  trace?: boolean;
  /** Hears the model cache's notes (a rebuilt or unwritable cache; default: stderr). */
  logger?: Logger;
}

/** An embedder with the model it runs. */
export interface ModelEmbedder extends Embedder {
  readonly model: EmbeddingModel;
  /** Raw descriptors ([n, dimensions]) of a batch of normalised NCHW images. */
  embed(input: HostTensor): Promise<HostTensor>;
  release(): Promise<void>;
}

/** Probes by file and size: resolving a model probes its encoder, and its sessions need the same answer. */
const probes = new Map<string, Promise<OnnxEncoderProbe>>();

/** What an ONNX encoder gives at its input size (features, pyramid), found once per process. */
export function probeEncoder(spec: OnnxEncoderSpec, threads?: number): Promise<OnnxEncoderProbe> {
  const key = `${spec.sha256}:${spec.preprocessing.size}:${spec.output ?? ''}:${(spec.pyramid ?? []).join(',')}`;
  let probe = probes.get(key);
  if (!probe) {
    probe = probeOnnxEncoder(spec, threads);
    probes.set(key, probe);
    probe.catch(() => probes.delete(key));
  }
  return probe;
}

export async function createEmbedder(model: EmbeddingModel, options: EmbedderOptions = {}): Promise<ModelEmbedder> {
  if (options.trace && (isFeatureModel(model) || model.encoder))
    throw new Error(`${model.source}: tracing shows LGFFEM's own backbone and neck; this model has no such backbone`);
  if (isFeatureModel(model)) {
    const { encoder } = model;
    const inner =
      encoder.kind === 'onnx'
        ? await OnnxEncoderEmbedder.create(encoder, {
            threads: options.threads,
            probe: await probeEncoder(encoder, options.threads),
            logger: options.logger,
          })
        : await VitEmbedder.create(encoder, {
            threads: options.threads,
            precision: model.precision,
            inputSize: model.inputSize,
            logger: options.logger,
          });
    return withModel(inner, model);
  }
  if (model.encoder) return withModel(await EncoderNeckEmbedder.create(model, model.encoder, options), model);
  return withModel(await OnnxEmbedder.create(model, options), model);
}

function withModel(inner: Embedder & { release(): Promise<void> }, model: EmbeddingModel): ModelEmbedder {
  return {
    model,
    inputSize: inner.inputSize,
    dimensions: inner.dimensions,
    run: (input) => inner.run(input),
    embed: async (input) => (await inner.run(input)).get(EMBEDDING_NAME)!,
    release: () => inner.release(),
  };
}

/** LGFFEM's neck and head on the pyramid of an ONNX encoder: the encoder's session feeds the neck's. */
class EncoderNeckEmbedder implements Embedder {
  private constructor(
    private readonly pyramid: OnnxPyramidSession,
    private readonly neckHead: NeckHeadSession,
    private readonly model: Model,
  ) {}

  static async create(model: Model, encoder: OnnxEncoderSpec, options: EmbedderOptions): Promise<EncoderNeckEmbedder> {
    const pyramid = await OnnxPyramidSession.create(encoder, {
      threads: options.threads,
      layout: 'NHWC',
      probe: await probeEncoder(encoder, options.threads),
      logger: options.logger,
    });
    try {
      return new EncoderNeckEmbedder(
        pyramid,
        await NeckHeadSession.create(model.config, model.weights, options.threads),
        model,
      );
    } catch (err) {
      await pyramid.release();
      throw err;
    }
  }

  get inputSize(): number {
    return this.model.config.inputSize;
  }

  get dimensions(): number {
    return embeddingSize(this.model.config);
  }

  async run(input: HostTensor): Promise<Map<string, HostTensor>> {
    return new Map([[EMBEDDING_NAME, await this.neckHead.run(await this.pyramid.run(input))]]);
  }

  async release(): Promise<void> {
    await Promise.all([this.pyramid.release(), this.neckHead.release()]);
  }
}
