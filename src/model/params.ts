/**
 * The parameter list of a model config, derived by running the model definition with an executor
 * that only follows shapes — so names and shapes can never drift from the definition.
 */
import { pyramidDims, type ModelConfig } from './config.js';
import { elementCount, type HostTensor } from './host-tensor.js';
import { lgffem, neckHead, type Pyramid } from './lgffem.js';
import type { ConvSpec, Ops, ParamRole } from './ops.js';
import type { PrefixToken, VitOps } from './vit.js';
import { Random } from '../util/random.js';

export interface ParamSpec {
  shape: number[];
  role: ParamRole;
}

/**
 * Shapes keep the channels on axis 1: NCHW for feature maps, [N, C] for vectors and [N, C, T] for
 * token sequences, so the channel-wise operations read every kind the same way.
 */
export type Shape = number[];

class ShapeOps implements Ops<Shape>, VitOps<Shape> {
  readonly params = new Map<string, ParamSpec>();
  /** Multiply-adds of the convolutions and linear maps run so far (the rest is comparatively free). */
  multiplyAdds = 0;

  private declare(name: string, shape: number[], role: ParamRole): void {
    this.params.set(name, { shape, role });
  }

  conv(x: Shape, name: string, s: ConvSpec): Shape {
    const [n, c, h, w] = x;
    this.declare(`${name}.weight`, [s.outChannels, s.depthwise ? 1 : c, s.kernel, s.kernel], 'weight');
    if (s.bias) this.declare(`${name}.bias`, [s.outChannels], 'bias');
    const out = (d: number) => Math.floor((d + 2 * s.pad - s.kernel) / s.stride) + 1;
    this.multiplyAdds += n * s.outChannels * out(h) * out(w) * (s.depthwise ? 1 : c) * s.kernel ** 2;
    return [n, s.outChannels, out(h), out(w)];
  }

  upsample2x(x: Shape, name: string): Shape {
    const [n, c, h, w] = x;
    this.declare(`${name}.weight`, [c, 1, 2, 2], 'weight');
    this.declare(`${name}.bias`, [c], 'bias');
    this.multiplyAdds += n * c * 4 * h * w;
    return [n, c, 2 * h, 2 * w];
  }

  linear(x: Shape, name: string, out: number, bias: boolean, pointwiseConv = false): Shape {
    this.declare(`${name}.weight`, pointwiseConv ? [out, x[1], 1, 1] : [out, x[1]], 'weight');
    if (bias) this.declare(`${name}.bias`, [out], 'bias');
    this.multiplyAdds += elementCount(x) * out;
    return [x[0], out, ...x.slice(2)];
  }

  layerNorm(x: Shape, name: string): Shape {
    this.declare(`${name}.weight`, [x[1]], 'norm-weight');
    this.declare(`${name}.bias`, [x[1]], 'zeros');
    return x;
  }

  grn(x: Shape, name: string, naming: 'timm' | 'neck'): Shape {
    const shape = naming === 'timm' ? [x[1]] : [1, x[1], 1, 1];
    const [gain, shift] = naming === 'timm' ? ['weight', 'bias'] : ['gamma', 'beta'];
    this.declare(`${name}.${gain}`, shape, 'zeros');
    this.declare(`${name}.${shift}`, [...shape], 'zeros');
    return x;
  }

  gelu(x: Shape): Shape {
    return x;
  }

  sigmoid(x: Shape): Shape {
    return x;
  }

  add(a: Shape): Shape {
    return a;
  }

  gate(x: Shape, _s: Shape, name: string): Shape {
    this.declare(name, [1], 'zeros');
    return x;
  }

  fuse(terms: Shape[], name: string): Shape {
    this.declare(name, [terms.length], 'ones');
    return terms[0];
  }

  gem(x: Shape, name: string): Shape {
    this.declare(name, [1], 'gem-p');
    return [x[0], x[1]];
  }

  batchNorm(x: Shape, name: string): Shape {
    const c = x[1];
    this.declare(`${name}.weight`, [c], 'norm-weight');
    this.declare(`${name}.bias`, [c], 'zeros');
    this.declare(`${name}.running_mean`, [c], 'running-mean');
    this.declare(`${name}.running_var`, [c], 'running-var');
    return x;
  }

  dropout(x: Shape): Shape {
    return x;
  }

  l2normalize(x: Shape): Shape {
    return x;
  }

  concat(xs: Shape[]): Shape {
    return [xs[0][0], xs.reduce((sum, v) => sum + v[1], 0)];
  }

  // ------------------------------------------------------------ VitOps

  patchTokens([n, c, h, w]: Shape): Shape {
    return [n, c, h * w];
  }

  prependTokens([n, c, t]: Shape, tokens: readonly PrefixToken[]): Shape {
    for (const { name, count } of tokens) this.declare(name, [1, count, c], 'token');
    return [n, c, t + tokens.reduce((sum, p) => sum + p.count, 0)];
  }

  addPositionEmbedding(x: Shape, name: string): Shape {
    this.declare(name, [1, x[2], x[1]], 'position');
    return x;
  }

  selfAttention([n, c, t]: Shape, heads: number): Shape {
    if (c % (3 * heads) !== 0) throw new Error(`attention: ${c / 3} channels do not split into ${heads} heads`);
    return [n, c / 3, t];
  }

  layerScale(x: Shape, name: string): Shape {
    this.declare(`${name}.gamma`, [x[1]], 'layer-scale');
    return x;
  }

  swiGlu([n, c, t]: Shape): Shape {
    if (c % 2 !== 0) throw new Error(`SwiGLU: ${c} channels do not split in halves`);
    return [n, c / 2, t];
  }

  token([n, c]: Shape): Shape {
    return [n, c];
  }

  meanTokens([n, c]: Shape): Shape {
    return [n, c];
  }
}

/** The parameters a model definition declares when `run` drives it with the shape executor, in definition order. */
export function traceParameters(run: (ops: Ops<Shape> & VitOps<Shape>) => void): Map<string, ParamSpec> {
  const ops = new ShapeOps();
  run(ops);
  return ops.params;
}

/** The neck and head alone, for one sample, on maps of the backbone's or an encoder's channels. */
function traceNeckHead(ops: ShapeOps, config: ModelConfig): void {
  const side = (level: number) => config.inputSize / 2 ** (level + 2);
  const feats = pyramidDims(config).map((c, level) => [1, c, side(level), side(level)]);
  neckHead(ops, feats as Pyramid<Shape>, config);
}

/** Every parameter and buffer of the model, by checkpoint name, in definition order. */
export function parameterSpecs(config: ModelConfig): Map<string, ParamSpec> {
  const ops = new ShapeOps();
  // Over an external encoder, the model is the neck and head alone.
  if (config.pyramidChannels) traceNeckHead(ops, config);
  else lgffem(ops, [1, 3, config.inputSize, config.inputSize], config);
  return ops.params;
}

/** Multiply-adds of one sample's forward pass through the neck and head (what training runs). */
export function neckHeadMultiplyAdds(config: ModelConfig): number {
  const ops = new ShapeOps();
  traceNeckHead(ops, config);
  return ops.multiplyAdds;
}

/** Whether a parameter is trained (BatchNorm running statistics are buffers). */
export function isTrainable(spec: ParamSpec): boolean {
  return spec.role !== 'running-mean' && spec.role !== 'running-var';
}

/** Weights for a fresh model: deterministic for a given seed. */
export function randomWeights(config: ModelConfig, seed: number): Map<string, HostTensor> {
  const rng = new Random(seed);
  const weights = new Map<string, HostTensor>();
  for (const [name, spec] of parameterSpecs(config)) {
    const data = new Float32Array(elementCount(spec.shape));
    switch (spec.role) {
      case 'weight':
        rng.fillNormal(data, 1 / Math.sqrt(elementCount(spec.shape.slice(1))));
        break;
      case 'norm-weight':
      case 'ones':
      case 'running-var':
        data.fill(1);
        break;
      case 'gem-p':
        data.fill(config.gemP);
        break;
      default:
        break; // zeros
    }
    weights.set(name, { shape: [...spec.shape], data });
  }
  return weights;
}
