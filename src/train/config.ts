/**
 * Training configuration (YAML): the model, then one or more stages — the paper's strategies
 * A → B → C are stages that each continue from the previous one's weights with a loss head of
 * their own. Every key is checked before any work starts; an unknown key or a bad value is an
 * error naming it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isLayout, LAYOUTS, type Layout } from '../collections/collection.js';
import { CONFIG_RULES, DEFAULT_CONFIG, isPresetName, unknownPreset, type ModelConfig } from '../model/config.js';
import type { Preprocessing } from '../model/encoder.js';

export interface AugmentConfig {
  /** Probabilities (docs/model.md#training-recipe: flips .6, rot90 .6, Gaussian blur .5, median blur .6). */
  vflip: number;
  hflip: number;
  rot90: number;
  gaussianBlur: number;
  medianBlur: number;
  /** Per-image jitter of the H and E stain strengths (0 = off), as a fraction. */
  stainJitter: number;
  /** Precomputed augmented views per image in the feature cache. */
  views: number;
}

export interface LossConfig {
  marginDegrees: number;
  scale: number;
  subCenters: number;
  /** Learning rate of the loss's own AdamW for W. */
  lr: number;
}

export interface StageConfig {
  name: string;
  data: string;
  layout: Layout;
  /** kimia, slides: a CSV of slide,label that labels every item (training and validation) by its slide. */
  labels?: string;
  /** A separate validation collection; otherwise `valFraction` of the training items. */
  val?: string;
  valFraction: number;
  epochs: number;
  batchSize: number;
  lr: number;
  lrMin: number;
  weightDecay: number;
  clipNorm: number;
  loss: LossConfig;
  augment: AugmentConfig;
}

/** A user's ONNX encoder whose feature pyramid the neck is trained over (frozen, like the ConvNeXt V2 backbone). */
export interface EncoderSection {
  /** The .onnx file (absolute). */
  path: string;
  /** Its input normalisation and channel order, over its sidecar FILE.json and ImageNet's defaults. */
  input: Partial<Pick<Preprocessing, 'mean' | 'std' | 'channels'>>;
  /** Its tensors at strides 4, 8, 16, 32 (default: found by running it once). */
  pyramid?: string[];
  /** model.input_size when the config gives it (the encoder must take that size); else the encoder's own. */
  size?: number;
}

/** The model's config (its defaults and rules are model/config.ts's) and where its weights come from. */
export interface ModelSection extends ModelConfig {
  /** Start from this checkpoint instead of random weights (over an encoder: one trained over the same file). */
  weights?: string;
  /** A timm convnextv2_* backbone to put in: a file, or the name of cached weights. */
  backbone?: string;
  /** The neck runs over this encoder's pyramid instead of a ConvNeXt V2 backbone (`preset` is then unused). */
  encoder?: EncoderSection;
}

/** What `histoseek train` may set over the config file (command-line flags). */
export interface TrainOverrides {
  /** model.encoder: an ONNX file, relative to the working directory. */
  encoder?: string;
}

/** Where training runs. One executor is left; the key stays so that configs (and their hashes, which resume checks) keep working. */
export const NECK_ENGINES = ['onnxruntime'] as const;
export type NeckEngine = (typeof NECK_ENGINES)[number];

export interface TrainConfig {
  seed: number;
  /** Where checkpoints, logs and the loss curve go. */
  output: string;
  /** Where the training graphs run: onnxruntime, the one executor. */
  engine: NeckEngine;
  /** onnxruntime threads for the training graphs. */
  threads: number;
  microBatch: number;
  /** Folder for cached backbone features. */
  cache: string;
  model: ModelSection;
  stages: StageConfig[];
}

type Raw = Record<string, unknown>;

class ConfigError extends Error {}

function reader(where: string, raw: unknown, allowed: string[]) {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(`${where}: expected a mapping`);
  const obj = raw as Raw;
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw new ConfigError(
      `${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (allowed: ${allowed.join(', ')})`,
    );
  const has = (key: string) => obj[key] !== undefined && obj[key] !== null;
  const number = (key: string, fallback: number | undefined, check: (v: number) => boolean, rule: string): number => {
    if (!has(key)) {
      if (fallback === undefined) throw new ConfigError(`${where}.${key}: required`);
      return fallback;
    }
    const v = obj[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v))
      throw new ConfigError(`${where}.${key}: must be ${rule}, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    obj,
    has,
    /** A number that passes `check`, which `rule` words for the error. */
    number,
    positive: (key: string, fallback?: number) => number(key, fallback, (v) => v > 0, 'a positive number'),
    nonNegative: (key: string, fallback?: number) => number(key, fallback, (v) => v >= 0, 'a number ≥ 0'),
    int: (key: string, fallback?: number, min = 1) =>
      number(key, fallback, (v) => Number.isInteger(v) && v >= min, `an integer ≥ ${min}`),
    probability: (key: string, fallback: number) =>
      number(key, fallback, (v) => v >= 0 && v <= 1, 'a probability in [0, 1]'),
    string: (key: string, fallback?: string): string => {
      if (!has(key)) {
        if (fallback === undefined) throw new ConfigError(`${where}.${key}: required`);
        return fallback;
      }
      if (typeof obj[key] !== 'string' || obj[key] === '')
        throw new ConfigError(`${where}.${key}: must be a non-empty string`);
      return obj[key] as string;
    },
  };
}

const ENCODER_KEYS = ['encoder_input', 'encoder_pyramid'];

function parseModel(raw: unknown, base: string): ModelSection {
  const r = reader('model', raw ?? {}, [
    'preset',
    'neck_channels',
    'neck_layers',
    'gem_p',
    'input_size',
    'weights',
    'backbone',
    'encoder',
    ...ENCODER_KEYS,
  ]);
  const field = (key: string, name: keyof typeof CONFIG_RULES) =>
    r.number(key, DEFAULT_CONFIG[name], CONFIG_RULES[name].ok, CONFIG_RULES[name].rule);
  const inputSize = field('input_size', 'inputSize');
  const encoder = r.has('encoder')
    ? { ...parseEncoder(r, base), ...(r.has('input_size') ? { size: inputSize } : {}) }
    : undefined;
  if (encoder) {
    // The neck's input is the encoder's pyramid: a ConvNeXt V2 size or checkpoint has nothing to apply to.
    const convnext = ['preset', 'backbone'].find((key) => r.has(key));
    if (convnext)
      throw new ConfigError(
        `model.${convnext}: a ConvNeXt V2 ${convnext} does not apply with model.encoder (the neck runs on the encoder's pyramid); remove one of them`,
      );
  } else {
    const stray = ENCODER_KEYS.find((key) => r.has(key));
    if (stray) throw new ConfigError(`model.${stray}: describes an encoder, but model.encoder is not given`);
  }
  const preset = r.string('preset', DEFAULT_CONFIG.preset);
  if (!isPresetName(preset)) throw new ConfigError(`model.preset: ${unknownPreset(preset)}`);
  return {
    preset,
    neckChannels: field('neck_channels', 'neckChannels'),
    neckLayers: field('neck_layers', 'neckLayers'),
    gemP: field('gem_p', 'gemP'),
    inputSize,
    weights: r.has('weights') ? resolve(base, r.string('weights')) : undefined,
    // A path (relative to the config) or the name of weights fetched with `histoseek weights pull`.
    backbone: r.has('backbone')
      ? /[\\/]|\.safetensors$/.test(r.string('backbone'))
        ? resolve(base, r.string('backbone'))
        : r.string('backbone')
      : undefined,
    ...(encoder ? { encoder } : {}),
  };
}

/**
 * model.encoder and its settings. The settings' values are the encoder's own options, checked where
 * the encoder is read (readOnnxEncoder, as for --mean, --std, --channels and --encoder-pyramid).
 */
function parseEncoder(r: ReturnType<typeof reader>, base: string): EncoderSection {
  const input = reader('model.encoder_input', r.obj.encoder_input ?? {}, ['mean', 'std', 'channels']);
  return {
    path: resolve(base, r.string('encoder')),
    input: input.obj as EncoderSection['input'],
    ...(r.has('encoder_pyramid') ? { pyramid: r.obj.encoder_pyramid as string[] } : {}),
  };
}

function parseStage(raw: unknown, index: number, base: string): StageConfig {
  const where = `stages[${index}]`;
  const r = reader(where, raw, [
    'name',
    'data',
    'layout',
    'labels',
    'val',
    'val_fraction',
    'epochs',
    'batch_size',
    'lr',
    'lr_min',
    'weight_decay',
    'clip_norm',
    'loss',
    'augment',
  ]);
  const layout = r.string('layout', 'folder');
  if (!isLayout(layout))
    throw new ConfigError(`${where}.layout: must be one of ${LAYOUTS.join(', ')}, got '${layout}'`);
  const lr = r.positive('lr', 5e-3);
  const lrMin = r.nonNegative('lr_min', 8e-5);
  if (lrMin > lr) throw new ConfigError(`${where}.lr_min: must not exceed lr (${lr}), got ${lrMin}`);
  const loss = reader(`${where}.loss`, r.obj.loss ?? {}, ['margin_deg', 'scale', 'sub_centers', 'lr']);
  const aug = reader(`${where}.augment`, r.obj.augment ?? {}, [
    'vflip',
    'hflip',
    'rot90',
    'gaussian_blur',
    'median_blur',
    'stain_jitter',
    'views',
  ]);
  const valFraction = r.probability('val_fraction', 0.1);
  if (valFraction >= 1) throw new ConfigError(`${where}.val_fraction: must be below 1, got ${valFraction}`);
  return {
    name: r.string('name', `stage${index + 1}`),
    data: resolve(base, r.string('data')),
    layout,
    labels: r.has('labels') ? resolve(base, r.string('labels')) : undefined,
    val: r.has('val') ? resolve(base, r.string('val')) : undefined,
    valFraction,
    epochs: r.int('epochs'),
    batchSize: r.int('batch_size', 64, 2),
    lr,
    lrMin,
    weightDecay: r.nonNegative('weight_decay', 1e-5),
    clipNorm: r.positive('clip_norm', 1),
    loss: {
      marginDegrees: loss.nonNegative('margin_deg', 17.2),
      scale: loss.positive('scale', 64),
      subCenters: loss.int('sub_centers', 3),
      lr: loss.positive('lr', 1e-4),
    },
    augment: {
      vflip: aug.probability('vflip', 0.6),
      hflip: aug.probability('hflip', 0.6),
      rot90: aug.probability('rot90', 0.6),
      gaussianBlur: aug.probability('gaussian_blur', 0.5),
      medianBlur: aug.probability('median_blur', 0.6),
      stainJitter: aug.probability('stain_jitter', 0),
      views: aug.int('views', 8),
    },
  };
}

function neckEngine(name: string): NeckEngine {
  if (name === 'tfjs')
    throw new ConfigError(
      `config.engine: 'tfjs' is gone since histoseek 1.2 (training runs on onnxruntime); remove the key or set it to 'onnxruntime'`,
    );
  if (!(NECK_ENGINES as readonly string[]).includes(name))
    throw new ConfigError(`config.engine: must be one of ${NECK_ENGINES.join(', ')}, got '${name}'`);
  return name as NeckEngine;
}

/** Validates a parsed YAML document; relative paths are resolved against `base` (the config's folder). */
export function parseTrainConfig(raw: unknown, base: string, source = 'config'): TrainConfig {
  try {
    const r = reader('config', raw, ['seed', 'output', 'engine', 'threads', 'micro_batch', 'cache', 'model', 'stages']);
    if (!Array.isArray(r.obj.stages) || r.obj.stages.length === 0)
      throw new ConfigError('config.stages: give at least one stage');
    const output = resolve(base, r.string('output', 'runs/train'));
    return {
      seed: r.int('seed', 0, 0),
      output,
      engine: neckEngine(r.string('engine', 'onnxruntime')),
      threads: r.int('threads', 2),
      microBatch: r.int('micro_batch', 2),
      cache: resolve(base, r.string('cache', `${output}/cache`)),
      model: parseModel(r.obj.model, base),
      stages: r.obj.stages.map((s, i) => parseStage(s, i, base)),
    };
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`${source}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Reads and validates a config file; `overrides` (command-line flags) replace its keys before validation. */
export async function readTrainConfig(path: string, overrides: TrainOverrides = {}): Promise<TrainConfig> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot read (${err.code ?? err.message})`);
  });
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new Error(`${path}: not valid YAML (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  return parseTrainConfig(withOverrides(raw, overrides), dirname(resolve(path)), path);
}

/** The document with the flags' values in place; their paths are made absolute, so the config's folder does not move them. */
function withOverrides(raw: unknown, overrides: TrainOverrides): unknown {
  if (overrides.encoder === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const doc = raw as Raw;
  const model = doc.model ?? {};
  if (model === null || typeof model !== 'object' || Array.isArray(model)) return raw;
  return { ...doc, model: { ...(model as Raw), encoder: resolve(overrides.encoder) } };
}
