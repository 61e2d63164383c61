/**
 * Finds what histoseek takes from a user's ONNX image model by running it once on a dummy image
 * with its tensors as outputs and reading their shapes: the features (the tensor named, or else the
 * last 4-D tensor in graph order) and the pyramid (the tensors named, or else the last tensor at
 * each of strides 4, 8, 16 and 32). A graph whose batch the file fixes at 1 is run again with the
 * batch open: when that gives each image its own, equal, row it runs whole batches, otherwise one
 * image at a time. The result is plain JSON, for a model's configuration to record.
 */
import * as ort from 'onnxruntime-node';
import { IMAGENET_PREPROCESSING, type OnnxEncoderSpec } from '../model/encoder.js';
import { Random } from '../util/random.js';
import { imageInput, producedTensors, readSpecFile, type OnnxFile } from './onnx-encoder-file.js';
import { CASTABLE_TYPES, encoderGraph, graphWithOutputs, type TakenTensor } from './onnx-encoder-graph.js';
import { quantizedTensors } from './onnx-encoder-quant.js';
import { cpuSessionOptions } from './ort-options.js';

export const PYRAMID_STRIDES = [4, 8, 16, 32] as const;

export interface PyramidLevel extends TakenTensor {
  channels: number;
  stride: number;
}

export interface OnnxEncoderProbe {
  /** The file and input side probed: sessions refuse a probe of another. */
  sha256: string;
  size: number;
  /** Whether the graph runs a batch at once (else one image at a time). */
  batched: boolean;
  features: TakenTensor;
  featureDim: number;
  /** The levels found, finest first: four when the model gives a pyramid at this size. */
  pyramid: PyramidLevel[];
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/** A session for the probe: unoptimised (it runs once or twice), its errors thrown with the file's name and not logged as well. */
async function createSession(file: OnnxFile, bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, {
      ...cpuSessionOptions(threads),
      graphOptimizationLevel: 'disabled',
      logSeverityLevel: 4,
    });
  } catch (err) {
    throw new Error(`${file.path}: onnxruntime cannot load the model (${firstLine(err)})`, { cause: err });
  }
}

/** A seeded normal image, `batch` copies of it. */
function dummyImages(batch: number, size: number): ort.Tensor {
  const one = new Random(26).fillNormal(new Float32Array(3 * size * size));
  const data = new Float32Array(batch * one.length);
  for (let i = 0; i < batch; i++) data.set(one, i * one.length);
  return new ort.Tensor('float32', data, [batch, 3, size, size]);
}

/**
 * Runs the file's graph on one dummy image with those of `names` that may be features or a level
 * as its outputs: the float or readable quantized tensors of rank 2 or 4, and those `named` (for
 * errors about their shapes), in order.
 */
async function tensorsOf(
  file: OnnxFile,
  names: string[],
  named: readonly string[],
  size: number,
  threads: number,
): Promise<TakenTensor[]> {
  const candidate = (name: string, rank: number) => named.includes(name) || [0, 2, 4].includes(rank);
  const quantized = quantizedTensors(file.graph);
  const readable = (name: string, type: string) =>
    type === 'float32' || CASTABLE_TYPES.includes(type) || quantized.has(name);
  // onnxruntime types every output and infers most ranks when it loads the graph: the run keeps only
  // the candidates (a transformer's hundreds of 3-D tensors kept at once would take gigabytes).
  // A rank it cannot infer reads as 0 and is kept.
  let session = await createSession(file, graphWithOutputs(file, names), threads);
  const kept = session.outputMetadata
    .filter((m) => m.isTensor && readable(m.name, m.type) && candidate(m.name, m.shape.length))
    .map((m) => m.name);
  if (kept.length < session.outputNames.length) {
    await session.release();
    session = await createSession(file, graphWithOutputs(file, kept), threads);
  }
  let results: ort.InferenceSession.ReturnType;
  try {
    results = await session.run({ [imageInput(file).name]: dummyImages(1, size) });
  } catch (err) {
    throw new Error(`${file.path}: the model cannot run on a ${size}×${size} image (${firstLine(err)})`, {
      cause: err,
    });
  } finally {
    await session.release();
  }
  return kept
    .map((name) => ({ name, type: results[name].type, shape: results[name].dims.map(Number) }))
    .filter((t) => named.includes(t.name) || t.shape.length === 2 || t.shape.length === 4);
}

/** Array.prototype.findLast, which Node 20 has and TypeScript's ES2022 library does not. */
const lastOf = <T>(items: T[], match: (item: T) => boolean): T | undefined => [...items].reverse().find(match);

const shapeOf = (t: TakenTensor) => `[${t.shape.join(', ')}]`;

function featuresOf(path: string, output: string | undefined, tensors: TakenTensor[]): TakenTensor {
  if (output === undefined) {
    const last = lastOf(tensors, (t) => t.shape.length === 4);
    if (!last)
      throw new Error(`${path}: no 4-D tensor to pool into features; name the features' tensor (the "output" setting)`);
    return last;
  }
  const named = tensors.find((t) => t.name === output);
  if (!named)
    throw new Error(`${path}: the output '${output}' is neither float nor a quantized tensor histoseek can read`);
  if (named.shape.length !== 2 && named.shape.length !== 4)
    throw new Error(`${path}: the output '${output}' is ${shapeOf(named)}; features are [N, C] or [N, C, H, W]`);
  return named;
}

/** The stride of a square feature map at input side `size`, or null. */
function strideOf(t: TakenTensor, size: number): number | null {
  const [, , h, w] = t.shape;
  return t.shape.length === 4 && h === w && h > 0 && size % h === 0 ? size / h : null;
}

function pyramidOf(
  path: string,
  names: readonly string[] | undefined,
  tensors: TakenTensor[],
  size: number,
): PyramidLevel[] {
  const level = (t: TakenTensor, stride: number) => ({ ...t, channels: t.shape[1], stride });
  if (names === undefined)
    return PYRAMID_STRIDES.flatMap((s) => {
      const last = lastOf(tensors, (t) => strideOf(t, size) === s);
      return last ? [level(last, s)] : [];
    });
  return names.map((name, i) => {
    const t = tensors.find((x) => x.name === name);
    if (!t)
      throw new Error(
        `${path}: the pyramid tensor '${name}' is neither float nor a quantized tensor histoseek can read`,
      );
    const stride = strideOf(t, size);
    if (stride !== PYRAMID_STRIDES[i])
      throw new Error(
        `${path}: the pyramid tensor '${name}' is ${shapeOf(t)}${stride ? `, at stride ${stride}` : ''}; the pyramid's four tensors are feature maps at strides ${PYRAMID_STRIDES.join(', ')}, in that order, of a ${size}×${size} input`,
      );
    return level(t, stride);
  });
}

/** Whether the graph, its batch opened, runs two equal images into two equal rows of every output. */
async function takesBatches(file: OnnxFile, taken: TakenTensor[], size: number, threads: number): Promise<boolean> {
  const plan = {
    preprocessing: { ...IMAGENET_PREPROCESSING, size },
    batched: true,
    // The features may be the stride-32 level too: each tensor once.
    outputs: [...new Map(taken.map((t) => [t.name, t])).values()].map((tensor) => ({ tensor, as: 'NCHW' as const })),
  };
  let session: ort.InferenceSession | undefined;
  try {
    session = await createSession(file, encoderGraph(file, plan), threads);
    const out = await session.run({ [session.inputNames[0]]: dummyImages(2, size) });
    return session.outputNames.every((name) => {
      const { dims, data } = out[name] as ort.Tensor & { data: Float32Array };
      const half = data.length / 2;
      return (
        Number(dims[0]) === 2 &&
        data.subarray(0, half).every((v, i) => Math.abs(v - data[half + i]) <= 1e-5 * (1 + Math.abs(v)))
      );
    });
  } catch {
    return false;
  } finally {
    await session?.release();
  }
}

/** Runs `spec`'s model once (twice when its batch is fixed at 1) and says what histoseek takes from it. */
export async function probeOnnxEncoder(spec: OnnxEncoderSpec, threads = 2): Promise<OnnxEncoderProbe> {
  const file = await readSpecFile(spec);
  const { size } = spec.preprocessing;
  const names = spec.output && spec.pyramid ? [spec.output, ...spec.pyramid] : producedTensors(file.graph);
  const tensors = await tensorsOf(file, names, [spec.output ?? [], spec.pyramid ?? []].flat(), size, threads);
  const features = featuresOf(spec.path, spec.output, tensors);
  const pyramid = pyramidOf(spec.path, spec.pyramid, tensors, size);
  const batched = imageInput(file).batch === null || (await takesBatches(file, [features, ...pyramid], size, threads));
  return { sha256: spec.sha256, size, batched, features, featureDim: features.shape[1], pyramid };
}
