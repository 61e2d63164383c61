/**
 * A user's ONNX image model as histoseek's encoder (`--encoder FILE.onnx`, issue #26), in one of
 * two uses: its pooled features as the descriptor (OnnxEncoderEmbedder), or its feature pyramid
 * for a trained LGFFEM neck (OnnxPyramidSession). Both are fed what every embedder is fed —
 * normalised NCHW RGB images — and run the user's graph as the file has it, at its own opsets and
 * precision; the optimised session is cached like the model's own (session-cache.ts).
 */
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import type { OnnxEncoderSpec } from '../model/encoder.js';
import { concatFirstAxis, sliceFirstAxis, type HostPyramid, type HostTensor } from '../model/host-tensor.js';
import type { Precision } from '../model/types.js';
import type { Embedder } from './embedder.js';
import { EMBEDDING_NAME } from './graph-names.js';
import { readSpecFile } from './onnx-encoder-file.js';
import { encoderGraph, type EncoderGraphPlan } from './onnx-encoder-graph.js';
import { probeOnnxEncoder, PYRAMID_STRIDES, type OnnxEncoderProbe } from './onnx-encoder-probe.js';
import { cpuSessionOptions } from './ort-options.js';
import type { Logger } from '../util/logger.js';
import { cachedSession } from './session-cache.js';

export { readOnnxEncoder, sidecarPath, type OnnxEncoderOptions } from './onnx-encoder-spec.js';
export { probeOnnxEncoder, PYRAMID_STRIDES, type OnnxEncoderProbe, type PyramidLevel } from './onnx-encoder-probe.js';

export interface OnnxEncoderSessionOptions {
  /** Intra-op threads (default: 2, this project's reference machine). */
  threads?: number;
  /** A probe of this file and size recorded earlier (a model's configuration): saves running the model once more. */
  probe?: OnnxEncoderProbe;
  /** Hears the model cache's notes (a rebuilt or unwritable cache; default: stderr). */
  logger?: Logger;
}

/**
 * Why `precision` cannot apply to a user's ONNX encoder, or null when it can: the graph runs as the
 * file has it (MobileNetV2's int8 included); histoseek quantizes only the graphs it writes.
 */
export function onnxEncoderPrecisionProblem(spec: Pick<OnnxEncoderSpec, 'path'>, precision?: Precision): string | null {
  return precision === 'int8'
    ? `${spec.path}: --precision int8 applies to the models histoseek builds; an ONNX encoder runs as its file is (quantize the file itself to run it in int8)`
    : null;
}

/** The session for `plan(probe)`, from the cache when it holds it. */
async function encoderSession(
  spec: OnnxEncoderSpec,
  use: string,
  plan: (probe: OnnxEncoderProbe) => EncoderGraphPlan,
  options: OnnxEncoderSessionOptions,
): Promise<{ runner: EncoderRunner; probe: OnnxEncoderProbe }> {
  const { size } = spec.preprocessing;
  const probe = options.probe ?? (await probeOnnxEncoder(spec, options.threads));
  const named =
    (spec.output ?? probe.features.name) === probe.features.name &&
    (spec.pyramid ?? []).every((name, i) => probe.pyramid[i]?.name === name);
  if (probe.sha256 !== spec.sha256 || probe.size !== size || !named)
    throw new Error(`${spec.path}: the probe given is of another file, input size or tensors; probe the encoder again`);
  const planned = plan(probe);
  // The file, the size and the use in the name; the rest of what shapes the graph in a digest.
  const digest = createHash('sha256').update(JSON.stringify(planned)).digest('hex').slice(0, 12);
  const session = await cachedSession(
    { key: `onnx-${spec.sha256.slice(0, 24)}-${size}-${use}-${digest}` },
    async () => encoderGraph(await readSpecFile(spec), planned),
    cpuSessionOptions(options.threads),
    undefined,
    options.logger,
  );
  return { runner: new EncoderRunner(session, spec.path, size, probe.batched), probe };
}

/** Feeds a session normalised images, a batch at once or, where the graph takes one image only, one by one. */
class EncoderRunner {
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly path: string,
    readonly size: number,
    private readonly batched: boolean,
  ) {}

  /** The session's outputs, in order, for a batch of [n, 3, size, size] images. */
  async run(input: HostTensor): Promise<HostTensor[]> {
    const [n, channels, height, width] = input.shape;
    if (input.shape.length !== 4 || channels !== 3 || height !== this.size || width !== this.size)
      throw new Error(
        `${this.path}: the encoder takes [N, 3, ${this.size}, ${this.size}] images, got [${input.shape.join(', ')}]`,
      );
    if (this.batched || n === 1) return this.runOnce(input);
    const rows: HostTensor[][] = [];
    for (let i = 0; i < n; i++) rows.push(await this.runOnce(sliceFirstAxis(input, i, i + 1)));
    return rows[0].map((_, k) => concatFirstAxis(rows.map((r) => r[k])));
  }

  private async runOnce(input: HostTensor): Promise<HostTensor[]> {
    const feeds = { [this.session.inputNames[0]]: new ort.Tensor('float32', input.data, input.shape) };
    const results = await this.session.run(feeds);
    return this.session.outputNames.map((name) => ({
      shape: results[name].dims.map(Number),
      data: results[name].data as Float32Array,
    }));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The encoder's pooled features as descriptors: `embedding` [N, featureDim]. */
export class OnnxEncoderEmbedder implements Embedder {
  private constructor(
    private readonly runner: EncoderRunner,
    readonly probe: OnnxEncoderProbe,
  ) {}

  static async create(spec: OnnxEncoderSpec, options: OnnxEncoderSessionOptions = {}): Promise<OnnxEncoderEmbedder> {
    const { runner, probe } = await encoderSession(
      spec,
      'features',
      (p) => ({
        preprocessing: spec.preprocessing,
        batched: p.batched,
        outputs: [{ tensor: p.features, as: 'pooled' }],
      }),
      options,
    );
    return new OnnxEncoderEmbedder(runner, probe);
  }

  get inputSize(): number {
    return this.runner.size;
  }

  get dimensions(): number {
    return this.probe.featureDim;
  }

  async run(input: HostTensor): Promise<Map<string, HostTensor>> {
    const [embedding] = await this.runner.run(input);
    return new Map([[EMBEDDING_NAME, embedding]]);
  }

  release(): Promise<void> {
    return this.runner.release();
  }
}

/** The encoder's feature maps at strides 4, 8, 16 and 32, for the LGFFEM neck: NHWC (as its sessions take them) or NCHW. */
export class OnnxPyramidSession {
  private constructor(
    private readonly runner: EncoderRunner,
    readonly probe: OnnxEncoderProbe,
  ) {}

  static async create(
    spec: OnnxEncoderSpec,
    options: OnnxEncoderSessionOptions & { layout?: 'NHWC' | 'NCHW' } = {},
  ): Promise<OnnxPyramidSession> {
    const layout = options.layout ?? 'NHWC';
    const { runner, probe } = await encoderSession(
      spec,
      `pyramid-${layout.toLowerCase()}`,
      (p) => {
        const missing = PYRAMID_STRIDES.filter((s) => !p.pyramid.some((l) => l.stride === s));
        if (missing.length) throw new Error(noPyramid(spec, missing));
        return {
          preprocessing: spec.preprocessing,
          batched: p.batched,
          outputs: p.pyramid.map((tensor) => ({ tensor, as: layout })),
        };
      },
      options,
    );
    return new OnnxPyramidSession(runner, probe);
  }

  get inputSize(): number {
    return this.runner.size;
  }

  /** Channels per level, finest first. */
  get channels(): number[] {
    return this.probe.pyramid.map((l) => l.channels);
  }

  async run(input: HostTensor): Promise<HostPyramid> {
    return (await this.runner.run(input)) as HostPyramid;
  }

  release(): Promise<void> {
    return this.runner.release();
  }
}

function noPyramid(spec: OnnxEncoderSpec, missing: number[]): string {
  const { size } = spec.preprocessing;
  const odd = size % 32 ? ` (${size} is not a multiple of 32)` : '';
  return `${spec.path}: no feature pyramid at ${size}×${size}: no tensor at stride ${missing.join(', ')}${odd}; name the four tensors (the "pyramid" setting)`;
}
