/**
 * Grad-CAM++ explanations of LGFFEM (docs/model.md#grad-cam-explanations; Chattopadhyay et al., WACV 2018): heat maps on the
 * terminal nodes P1_2..P4_2 of every neck layer for a target score y, the cosine between the image's
 * descriptor and a constant vector — another image's descriptor (why do these two match?) or a class
 * centre such as a Sub-center ArcFace column (where is the evidence for this class?).
 *
 * The backbone is frozen, so its features are constants; onnxruntime runs everything: the backbone
 * (or the encoder under the neck), the descriptor, then one graph (`engine/training-graphs.ts`,
 * buildNodeGradientGraph) that gives dy/dA for all 4·L nodes in one backward sweep. The gradient by
 * a node is taken as an input to what follows it (the next layer, or the head), as the Grad-CAM of a
 * layer's output map is.
 *
 * Grad-CAM++ with the paper's exponential score Y = exp(y) (its eq. 19): ∂Y/∂A = Y·g with g = ∂y/∂A,
 * and, taking y as linear in A around the image (the paper's assumption; approximate for this neck),
 * ∂²Y/∂A² = Y·g², ∂³Y/∂A³ = Y·g³. Its closed form then reads, per channel c and position (i, j):
 *   α_ijc = g_ijc² / (2·g_ijc² + Σ_ab A_abc · g_ijc³)      (the factors Y cancel)
 *   w_c   = Σ_ij α_ijc · ReLU(Y·g_ijc)  =  Y · Σ_ij α_ijc · ReLU(g_ijc)
 *   map   = ReLU(Σ_c w_c · A_c), min–max scaled to [0, 1]   (where Y cancels again)
 * α is 0 where its denominator is 0 (g = 0), as in the authors' code. Neck outputs, unlike the
 * post-ReLU CNN activations of the paper, can be negative; the formula is applied to them unchanged.
 */
import { normalizeInto } from '../data/image.js';
import { OnnxPyramidSession } from '../engine/onnx-encoder.js';
import {
  BackboneSession,
  NeckHeadSession,
  NodeGradientSession,
  type NodeGradients,
  type PyramidSource,
} from '../engine/onnx-parts.js';
import type { Model } from '../model/types.js';
import { embeddingSize } from '../model/config.js';
import type { HostPyramid, HostTensor } from '../model/host-tensor.js';

/** An RGB image already at the model's input size: size × size × 3 bytes, row-major HWC. */
export interface ExplainImage {
  pixels: Uint8Array;
  size: number;
}

/** What y is: the cosine of the image's descriptor with another image's descriptor, or with a class centre (any D-vector, raw or unit). */
export type ExplainTarget = { kind: 'similarity'; reference: Float32Array } | { kind: 'class'; centre: Float32Array };

export interface ExplainOptions {
  /** Neck layers to explain (0-based); default all. */
  layers?: number[];
  /** Terminal nodes to explain, 0..3 for P1_2..P4_2; default all. */
  nodes?: number[];
}

export interface Explanation {
  target: ExplainTarget['kind'];
  /** y, the cosine the maps explain. */
  score: number;
  /** The image's raw descriptor f_e. */
  descriptor: Float32Array;
  /** Per (layer, node), keyed 'L0.P1' … (see `nodeKey`): size × size, row-major, in [0, 1]. */
  maps: Map<string, Float32Array>;
  /** Per layer, keyed 'L0' …: the mean of its node maps, min–max scaled to [0, 1]. */
  layers: Map<string, Float32Array>;
  /** The mean of the layer maps, min–max scaled to [0, 1]. */
  combined: Float32Array;
}

export interface MatchExplanation {
  /** Cosine of the two descriptors (both sides explain this same number). */
  score: number;
  /** The query's maps for its similarity to the result's descriptor. */
  query: Explanation;
  /** The result's maps for its similarity to the query's descriptor. */
  result: Explanation;
}

export type { NodeGradients };

export const nodeKey = (layer: number, node: number): string => `L${layer}.P${node + 1}`;
export const layerKey = (layer: number): string => `L${layer}`;

/**
 * Grad-CAM++ for one node of one image: the channel weights w_c and the map ReLU(Σ_c w_c·A_c) (h × w,
 * unscaled) from its activation A and gradient g = ∂y/∂A (both h × w × c, HWC), with y's value.
 */
export function gradCamPlusPlus(
  activation: Float32Array,
  gradient: Float32Array,
  h: number,
  w: number,
  c: number,
  score: number,
): { weights: Float64Array; map: Float64Array } {
  const positions = h * w;
  const sums = new Float64Array(c);
  for (let p = 0; p < positions; p++) for (let k = 0; k < c; k++) sums[k] += activation[p * c + k];
  const weights = new Float64Array(c);
  for (let p = 0; p < positions; p++) {
    for (let k = 0; k < c; k++) {
      const g = gradient[p * c + k];
      if (g <= 0) continue; // ReLU(g) = 0
      const g2 = g * g;
      const denominator = 2 * g2 + sums[k] * g2 * g;
      if (denominator !== 0) weights[k] += (g2 / denominator) * g;
    }
  }
  const scale = Math.exp(score);
  for (let k = 0; k < c; k++) weights[k] *= scale;
  const map = new Float64Array(positions);
  for (let p = 0; p < positions; p++) {
    let v = 0;
    for (let k = 0; k < c; k++) v += weights[k] * activation[p * c + k];
    map[p] = Math.max(v, 0);
  }
  return { weights, map };
}

/** Bilinear resize of an h × w map to size × size (half-pixel centres, as image resizers do). */
export function upsampleBilinear(map: ArrayLike<number>, h: number, w: number, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const source = (dst: number, n: number) => {
    const s = Math.min(Math.max((dst + 0.5) * (n / size) - 0.5, 0), n - 1);
    const i0 = Math.floor(s);
    return { i0, i1: Math.min(i0 + 1, n - 1), t: s - i0 };
  };
  const cols = Array.from({ length: size }, (_, x) => source(x, w));
  for (let y = 0; y < size; y++) {
    const r = source(y, h);
    for (let x = 0; x < size; x++) {
      const col = cols[x];
      const top = map[r.i0 * w + col.i0] * (1 - col.t) + map[r.i0 * w + col.i1] * col.t;
      const bottom = map[r.i1 * w + col.i0] * (1 - col.t) + map[r.i1 * w + col.i1] * col.t;
      out[y * size + x] = top * (1 - r.t) + bottom * r.t;
    }
  }
  return out;
}

/**
 * Min–max scales a map to [0, 1] in place, as common Grad-CAM tooling does (pytorch-grad-cam's
 * scale_cam_image): a floor shared by the whole map is no evidence for one place over another. A
 * constant map becomes all zeros.
 */
export function scaleToUnit(map: Float32Array): Float32Array {
  let min = Infinity;
  let max = -Infinity;
  for (const v of map) [min, max] = [Math.min(min, v), Math.max(max, v)];
  const range = max - min;
  for (let i = 0; i < map.length; i++) map[i] = range > 0 ? (map[i] - min) / range : 0;
  return map;
}

/** The average of same-sized maps, scaled to [0, 1]: how node maps make a layer's, and layer maps the combined one. */
export function meanMap(maps: Float32Array[]): Float32Array {
  const out = new Float32Array(maps[0].length);
  for (const m of maps) for (let i = 0; i < out.length; i++) out[i] += m[i] / maps.length;
  return scaleToUnit(out);
}

function unit(v: Float32Array, what: string): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (!(norm > 0) || !Number.isFinite(norm)) throw new RangeError(`${what} must be a finite non-zero vector`);
  return v.map((x) => x / norm);
}

/** The HWC values of image `i` of an NHWC batch (a view). */
function row(t: HostTensor, i: number): Float32Array {
  const n = t.data.length / t.shape[0];
  return t.data.subarray(i * n, (i + 1) * n);
}

/**
 * Explains images with a model. Holds onnxruntime sessions of the backbone, the descriptor and the
 * node gradients: create once and reuse, then dispose.
 */
export class Explainer {
  private constructor(
    readonly model: Model,
    private readonly pyramid: PyramidSource,
    private readonly descriptor: NeckHeadSession,
    private readonly nodeGradients: NodeGradientSession,
  ) {}

  static async create(model: Model, options: { threads?: number } = {}): Promise<Explainer> {
    const { threads } = options;
    const pyramid = model.encoder
      ? await OnnxPyramidSession.create(model.encoder, { threads })
      : await BackboneSession.create(model.config, model.weights, threads);
    return new Explainer(
      model,
      pyramid,
      await NeckHeadSession.create(model.config, model.weights, threads),
      await NodeGradientSession.create(model.config, model.weights, threads),
    );
  }

  private get size(): number {
    return this.model.config.inputSize;
  }

  /** Backbone features (NHWC) of a batch of images. */
  private async features(images: ExplainImage[]): Promise<HostPyramid> {
    const size = this.size;
    const plane = 3 * size * size;
    const input = new Float32Array(images.length * plane);
    images.forEach((image, i) => {
      if (image.size !== size)
        throw new RangeError(`explain: the image is ${image.size}×${image.size}; this model takes ${size}×${size}`);
      normalizeInto(image.pixels, size, input, i * plane);
    });
    return this.pyramid.run({ shape: [images.length, 3, size, size], data: input });
  }

  /**
   * Activations and ∂y/∂A of every neck node for a batch, image i's y being the cosine of its
   * descriptor with `targets(descriptors)[i]`.
   */
  async gradients(
    images: ExplainImage[],
    targets: (descriptors: Float32Array[]) => Float32Array[],
  ): Promise<NodeGradients> {
    const D = embeddingSize(this.model.config);
    const features = await this.features(images);
    const embeddings = (await this.descriptor.run(features)).data;
    const wanted = targets(images.map((_, i) => embeddings.slice(i * D, (i + 1) * D))).map((t) => {
      if (t.length !== D)
        throw new RangeError(`explain: the target vector has ${t.length} values; descriptors have ${D}`);
      return unit(t, 'explain: the target vector');
    });
    return this.nodeGradients.run(features, wanted);
  }

  /** Heat maps of one image for `target`. */
  async explain(image: ExplainImage, target: ExplainTarget, options: ExplainOptions = {}): Promise<Explanation> {
    const vector = target.kind === 'similarity' ? target.reference : target.centre;
    const [explanation] = await this.explainBatch([image], () => [vector], target.kind, options);
    return explanation;
  }

  /** Why `result` was retrieved for `query`: each side's maps for its similarity to the other's descriptor, in one pass. */
  async explainMatch(
    query: ExplainImage,
    result: ExplainImage,
    options: ExplainOptions = {},
  ): Promise<MatchExplanation> {
    const [q, r] = await this.explainBatch([query, result], ([dq, dr]) => [dr, dq], 'similarity', options);
    return { score: q.score, query: q, result: r };
  }

  private async explainBatch(
    images: ExplainImage[],
    targets: (d: Float32Array[]) => Float32Array[],
    kind: ExplainTarget['kind'],
    options: ExplainOptions,
  ): Promise<Explanation[]> {
    const L = this.model.config.neckLayers;
    const layers = checkSelection(options.layers, L, 'layer');
    const nodes = checkSelection(options.nodes, 4, 'node');
    const g = await this.gradients(images, targets);
    return images.map((image, i) => {
      const maps = new Map<string, Float32Array>();
      const layerMaps = new Map<string, Float32Array>();
      for (const l of layers) {
        const own = nodes.map((k) => {
          const A = g.activations[l][k];
          const [, h, w, c] = A.shape;
          const { map } = gradCamPlusPlus(row(A, i), row(g.gradients[l][k], i), h, w, c, g.scores[i]);
          const up = scaleToUnit(upsampleBilinear(map, h, w, image.size));
          maps.set(nodeKey(l, k), up);
          return up;
        });
        layerMaps.set(layerKey(l), meanMap(own));
      }
      return {
        target: kind,
        score: g.scores[i],
        descriptor: g.descriptors[i],
        maps,
        layers: layerMaps,
        combined: meanMap([...layerMaps.values()]),
      };
    });
  }

  async dispose(): Promise<void> {
    await Promise.all([this.pyramid.release(), this.descriptor.release(), this.nodeGradients.release()]);
  }
}

function checkSelection(selected: number[] | undefined, count: number, what: string): number[] {
  const all = [...Array(count).keys()];
  if (!selected) return all;
  if (selected.length === 0) throw new RangeError(`explain: no ${what}s selected`);
  for (const s of selected) {
    if (!Number.isInteger(s) || s < 0 || s >= count)
      throw new RangeError(`explain: ${what} ${s} does not exist (0..${count - 1})`);
  }
  return all.filter((i) => selected.includes(i));
}
