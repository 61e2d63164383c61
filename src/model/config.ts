/** LGFFEM configuration: the backbone preset, the neck's width and depth, the input size. */

export const BACKBONE_PRESETS = {
  test: { dims: [16, 32, 64, 128], depths: [1, 1, 2, 1] },
  atto: { dims: [40, 80, 160, 320], depths: [2, 2, 6, 2] },
  femto: { dims: [48, 96, 192, 384], depths: [2, 2, 6, 2] },
  pico: { dims: [64, 128, 256, 512], depths: [2, 2, 6, 2] },
  nano: { dims: [80, 160, 320, 640], depths: [2, 2, 8, 2] },
  tiny: { dims: [96, 192, 384, 768], depths: [3, 3, 9, 3] },
  base: { dims: [128, 256, 512, 1024], depths: [3, 3, 27, 3] },
  large: { dims: [192, 384, 768, 1536], depths: [3, 3, 27, 3] },
  huge: { dims: [352, 704, 1408, 2816], depths: [3, 3, 27, 3] },
} as const satisfies Record<string, { dims: readonly number[]; depths: readonly number[] }>;

export type PresetName = keyof typeof BACKBONE_PRESETS;

export interface ModelConfig {
  preset: PresetName;
  /** Neck width C; the descriptor has 4C dimensions. */
  neckChannels: number;
  /** Number of LGFFN layers L. */
  neckLayers: number;
  /** Initial GeM exponent. */
  gemP: number;
  /** Input side S (pixels), a multiple of 32. */
  inputSize: number;
  /**
   * The channels of an external encoder's pyramid (strides 4, 8, 16, 32) that the neck runs on
   * instead of the preset's ConvNeXt V2 backbone; the preset is then unused.
   */
  pyramidChannels?: readonly number[];
}

export const DEFAULT_CONFIG: ModelConfig = {
  preset: 'atto',
  neckChannels: 128,
  neckLayers: 3,
  gemP: 4.6,
  inputSize: 224,
};

/** The channels of the four feature maps the neck takes: the external encoder's, or the preset backbone's. */
export function pyramidDims(config: ModelConfig): readonly number[] {
  return config.pyramidChannels ?? BACKBONE_PRESETS[config.preset].dims;
}

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(BACKBONE_PRESETS, name);
}

/** Why `name` is no preset. */
export function unknownPreset(name: string): string {
  return `unknown preset '${name}' (known: ${Object.keys(BACKBONE_PRESETS).join(', ')})`;
}

/** What each numeric field must be: a test and its wording (validateConfig and the training config both apply these). */
export const CONFIG_RULES: {
  readonly [K in Exclude<keyof ModelConfig, 'preset' | 'pyramidChannels'>]: {
    name: string;
    rule: string;
    ok: (v: number) => boolean;
  };
} = {
  neckChannels: {
    name: 'neck channels',
    rule: 'an even integer ≥ 2',
    ok: (v) => Number.isInteger(v) && v >= 2 && v % 2 === 0,
  },
  neckLayers: { name: 'neck layers', rule: 'an integer ≥ 1', ok: (v) => Number.isInteger(v) && v >= 1 },
  gemP: { name: 'GeM p', rule: 'a positive number', ok: (v) => v > 0 },
  inputSize: {
    name: 'input size',
    rule: 'a positive multiple of 32',
    ok: (v) => Number.isInteger(v) && v >= 32 && v % 32 === 0,
  },
};

export function embeddingSize(config: ModelConfig): number {
  return 4 * config.neckChannels;
}

/** Throws a clear error for a config no model can be built from. */
export function validateConfig(config: ModelConfig, source = 'model config'): ModelConfig {
  const fail = (why: string): never => {
    throw new Error(`${source}: ${why}`);
  };
  if (!isPresetName(config.preset)) fail(unknownPreset(config.preset));
  const pyramid = config.pyramidChannels;
  if (pyramid && !(pyramid.length === 4 && pyramid.every((c) => Number.isInteger(c) && c >= 2 && c % 2 === 0)))
    fail(`the encoder's pyramid must be four even channel counts ≥ 2, got [${pyramid.join(', ')}]`);
  for (const key of Object.keys(CONFIG_RULES) as (keyof typeof CONFIG_RULES)[]) {
    const { name, rule, ok } = CONFIG_RULES[key];
    if (!ok(config[key])) fail(`${name} must be ${rule}, got ${config[key]}`);
  }
  return config;
}

/** The config as safetensors metadata (string values, the reference script's key names). */
export function configToMetadata(config: ModelConfig): Record<string, string> {
  return {
    preset: config.preset,
    neck_channels: String(config.neckChannels),
    neck_layers: String(config.neckLayers),
    gem_p: String(config.gemP),
    input_size: String(config.inputSize),
    ...(config.pyramidChannels ? { pyramid_channels: config.pyramidChannels.join(',') } : {}),
  };
}

export function configFromMetadata(meta: Record<string, string>, source: string): ModelConfig {
  for (const key of ['preset', 'neck_channels', 'neck_layers']) {
    if (meta[key] === undefined) throw new Error(`${source}: metadata lacks '${key}', so the model config is unknown`);
  }
  const config = {
    preset: meta.preset as PresetName,
    neckChannels: Number(meta.neck_channels),
    neckLayers: Number(meta.neck_layers),
    gemP: meta.gem_p === undefined ? DEFAULT_CONFIG.gemP : Number(meta.gem_p),
    inputSize: meta.input_size === undefined ? DEFAULT_CONFIG.inputSize : Number(meta.input_size),
    ...(meta.pyramid_channels ? { pyramidChannels: meta.pyramid_channels.split(',').map(Number) } : {}),
  };
  return validateConfig(config, source);
}
