/**
 * Vision Transformer weights (vit.ts): the parameter list derived from the definition, random
 * weights that test/fixtures/tools/vit_ref.py reproduces bit for bit, and the weights a graph for
 * one input size runs with — the position embedding resampled to that input's patch grid and the
 * input normalisation folded into the patch embedding.
 */
import { createHash } from 'node:crypto';
import { checkTensors } from './checkpoint.js';
import { IMAGENET_MEAN, IMAGENET_STD, type Rgb, type VitArch, type VitEncoderSpec } from './encoder.js';
import { elementCount, type HostTensor } from './host-tensor.js';
import type { ParamRole } from './ops.js';
import { traceParameters, type ParamSpec } from './params.js';
import { prefixTokenCount, vit } from './vit.js';

/** The side of the patch grid for an input of `inputSize` pixels; an error unless the patches tile it exactly. */
export function vitGrid(arch: VitArch, inputSize: number): number {
  if (!Number.isInteger(inputSize) || inputSize < arch.patchSize || inputSize % arch.patchSize !== 0)
    throw new Error(
      `a ViT with ${arch.patchSize}-pixel patches needs an input size that is a multiple of ${arch.patchSize}, got ${inputSize}`,
    );
  return inputSize / arch.patchSize;
}

/** Every parameter by timm name, in definition order; pos_embed sized for `inputSize` (default: the grid it was trained on). */
export function vitParameterSpecs(arch: VitArch, inputSize = arch.posGrid * arch.patchSize): Map<string, ParamSpec> {
  vitGrid(arch, inputSize);
  return traceParameters((ops) => vit(ops, [1, 3, inputSize, inputSize], arch));
}

/** Throws, naming `source` and every missing, unexpected or mis-shaped tensor, unless `weights` are a checkpoint of `arch`. */
export function checkVitWeights(arch: VitArch, weights: Map<string, HostTensor>, source: string): void {
  checkTensors(weights, vitParameterSpecs(arch), source);
}

// ---------------------------------------------------------------- random weights

/** Chris Wellons' lowbias32 integer hash: a bijection on 32-bit words with good avalanche. */
function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a over the name's characters (tensor names are ASCII, so its UTF-8 bytes). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * `count` values uniform in [offset − halfWidth, offset + halfWidth), the i-th a function of
 * (key, seed, i) alone. Each step is exact or one float32 rounding, so numpy computes the same
 * bits (vit_ref.py's counter_uniform): the fixtures hold no weights, only this recipe.
 */
export function counterUniform(
  key: string,
  seed: number,
  count: number,
  offset: number,
  halfWidth: number,
): Float32Array {
  const stream = lowbias32(fnv1a(key) ^ lowbias32(seed >>> 0));
  const half = Math.fround(halfWidth);
  const shift = Math.fround(offset);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const unit = ((lowbias32(lowbias32(i) ^ stream) >>> 8) - 0x800000) / 0x800000; // [-1, 1), exact in float32
    out[i] = shift + Math.fround(half * unit);
  }
  return out;
}

/** [offset, half-width] of each kind of parameter in random weights: every tensor non-trivial, activations of order one. */
function randomRange(role: ParamRole, shape: number[]): [number, number] {
  switch (role) {
    case 'weight':
      return [0, Math.sqrt(3 / elementCount(shape.slice(1)))]; // variance 1 / fan-in
    case 'norm-weight':
      return [1, 0.2];
    case 'layer-scale':
      return [0.25, 0.2];
    case 'token':
      return [0, 1];
    case 'position':
      return [0, 0.5];
    default:
      return [0, 0.1]; // biases and norm shifts
  }
}

/** Deterministic random weights at the trained grid: the fixtures' model, and ViT-B/16 or -L/16 for speed benchmarks. */
export function randomVitWeights(arch: VitArch, seed: number): Map<string, HostTensor> {
  const weights = new Map<string, HostTensor>();
  for (const [name, spec] of vitParameterSpecs(arch)) {
    const [offset, halfWidth] = randomRange(spec.role, spec.shape);
    weights.set(name, {
      shape: [...spec.shape],
      data: counterUniform(name, seed, elementCount(spec.shape), offset, halfWidth),
    });
  }
  return weights;
}

/** SHA-256 over every tensor (names sorted, shapes and float32 bytes): the identity of weights that came from no file. */
export function weightsSha256(weights: Map<string, HostTensor>): string {
  const hash = createHash('sha256');
  for (const name of [...weights.keys()].sort()) {
    const t = weights.get(name)!;
    hash.update(`${name}:${t.shape.join('x')};`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
}

/** A ViT encoder with `randomVitWeights(arch, seed)`, for tests and speed benchmarks. */
export function randomVitEncoder(name: string, arch: VitArch, seed = 0): VitEncoderSpec {
  const weights = randomVitWeights(arch, seed);
  return { kind: 'vit', name: `${name} (random, seed ${seed})`, arch, weights, sha256: weightsSha256(weights) };
}

// ---------------------------------------------------------------- weights for an input size

/** Keys' bicubic convolution kernel with a = −0.5, the one antialiased resampling uses (PIL's and PyTorch's). */
function keysCubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/** Each output sample's first input index and normalised weights, resampling `from` samples to `to` (half-pixel centres). */
function resampleTaps(from: number, to: number): { first: number; weights: number[] }[] {
  const scale = from / to;
  const support = 2 * Math.max(scale, 1); // the kernel widens when shrinking: antialiasing
  const inverse = 1 / Math.max(scale, 1);
  return Array.from({ length: to }, (_, i) => {
    const centre = scale * (i + 0.5);
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const end = Math.min(Math.trunc(centre + support + 0.5), from);
    const weights = Array.from({ length: end - first }, (_, j) => keysCubic((j + first - centre + 0.5) * inverse));
    const total = weights.reduce((a, b) => a + b, 0);
    return { first, weights: weights.map((w) => (total !== 0 ? w / total : w)) };
  });
}

/**
 * timm's resample_abs_pos_embed (bicubic, antialiased, as F.interpolate computes it): the grid
 * part of `posEmbed` [1, prefix + g², C] resampled to grid × grid; the first `prefix` entries
 * (class and register tokens') kept as they are.
 */
export function resamplePositionEmbedding(posEmbed: HostTensor, prefix: number, grid: number): HostTensor {
  const [, length, channels] = posEmbed.shape;
  const old = Math.round(Math.sqrt(length - prefix));
  if (posEmbed.shape.length !== 3 || posEmbed.shape[0] !== 1 || old * old !== length - prefix)
    throw new Error(`pos_embed [${posEmbed.shape.join(', ')}] is not [1, ${prefix} + a square grid, C]`);
  if (old === grid) return posEmbed;
  const taps = resampleTaps(old, grid);
  const src = posEmbed.data.subarray(prefix * channels);
  // Along x first (rows stay old-sized), then along y; float64 in between.
  const rows = new Float64Array(old * grid * channels);
  for (let y = 0; y < old; y++)
    taps.forEach(({ first, weights }, x) => {
      const out = (y * grid + x) * channels;
      weights.forEach((w, j) => {
        const from = (y * old + first + j) * channels;
        for (let c = 0; c < channels; c++) rows[out + c] += w * src[from + c];
      });
    });
  const data = new Float32Array((prefix + grid * grid) * channels);
  data.set(posEmbed.data.subarray(0, prefix * channels));
  const grid2 = new Float64Array(channels);
  taps.forEach(({ first, weights }, y) => {
    for (let x = 0; x < grid; x++) {
      grid2.fill(0);
      weights.forEach((w, j) => {
        const from = ((first + j) * grid + x) * channels;
        for (let c = 0; c < channels; c++) grid2[c] += w * rows[from + c];
      });
      data.set(grid2, (prefix + y * grid + x) * channels);
    }
  });
  return { shape: [1, prefix + grid * grid, channels], data };
}

/**
 * The patch embedding for inputs normalised with `from` instead of the model's own mean and std:
 * x_model = x·(s_from / s_model) + (m_from − m_model) / s_model per channel, which the
 * convolution (no padding) absorbs into its kernel and bias.
 */
function foldNormalisation(
  weight: HostTensor,
  bias: HostTensor,
  from: { mean: Rgb; std: Rgb },
  to: { mean: Rgb; std: Rgb },
): [HostTensor, HostTensor] {
  const [out, inChannels, kh, kw] = weight.shape;
  const taps = kh * kw;
  const w = new Float32Array(weight.data.length);
  const b = Float32Array.from(bias.data);
  for (let o = 0; o < out; o++) {
    let shift = 0;
    for (let c = 0; c < inChannels; c++) {
      const gain = from.std[c] / to.std[c];
      const offset = (from.mean[c] - to.mean[c]) / to.std[c];
      const base = (o * inChannels + c) * taps;
      for (let k = base; k < base + taps; k++) {
        w[k] = weight.data[k] * gain;
        shift += weight.data[k] * offset;
      }
    }
    b[o] += shift;
  }
  return [
    { shape: [...weight.shape], data: w },
    { shape: [...bias.shape], data: b },
  ];
}

const IMAGENET = { mean: IMAGENET_MEAN, std: IMAGENET_STD };
const sameRgb = (a: Rgb, b: Rgb) => a.every((v, i) => v === b[i]);

/**
 * The weights of a graph for `inputSize`-pixel inputs normalised with ImageNet's mean and std (what
 * every histoseek embedder is fed): pos_embed resampled to the input's grid, and the model's own
 * normalisation folded into patch_embed. `weights` are a checkpoint of `arch`; they are not changed.
 */
export function vitWeightsForInput(
  arch: VitArch,
  weights: Map<string, HostTensor>,
  inputSize: number,
  source = 'the ViT weights',
): Map<string, HostTensor> {
  checkVitWeights(arch, weights, source);
  const out = new Map(weights);
  const prefix = arch.posEmbedPrefix ? prefixTokenCount(arch) : 0;
  out.set('pos_embed', resamplePositionEmbedding(weights.get('pos_embed')!, prefix, vitGrid(arch, inputSize)));
  if (!sameRgb(arch.mean, IMAGENET.mean) || !sameRgb(arch.std, IMAGENET.std)) {
    const [w, b] = foldNormalisation(
      weights.get('patch_embed.proj.weight')!,
      weights.get('patch_embed.proj.bias')!,
      IMAGENET,
      arch,
    );
    out.set('patch_embed.proj.weight', w);
    out.set('patch_embed.proj.bias', b);
  }
  return out;
}
