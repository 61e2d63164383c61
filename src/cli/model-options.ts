/** The model options (--weights, --backbone, --size), the same in every command that embeds images (what they mean: api/models.ts). */
import type { ModelOptions } from '../api/models.js';
import { TISSUE_MODEL_PATH } from '../model/checkpoint.js';
import type { Rgb } from '../model/encoder.js';
import { PRECISIONS, type Precision } from '../model/types.js';
import { optionalPositiveInt } from './args.js';
import { RUN_OPTIONS } from './run-options.js';
import { DB_OPTIONS } from './store-options.js';

export const MODEL_OPTIONS = {
  weights: { type: 'string' },
  backbone: { type: 'string' },
  size: { type: 'string' },
  encoder: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  channels: { type: 'string' },
  'encoder-output': { type: 'string' },
  'encoder-pyramid': { type: 'string' },
} as const;

/** `--precision`, for the commands that embed with onnxruntime (index, search, eval, embed, serve). */
export const PRECISION_OPTIONS = {
  precision: { type: 'string' },
} as const;

export const PRECISION_USAGE = `  --precision P     fp32 (default) or int8: the model's linear maps in 8-bit integers, faster where
                    the CPU has VNNI (README: precision); an index built with one is queried with the
                    same (search, eval and serve take the index's when not given)
`;

/** The options of the commands that run the model for an index (index, search, eval): which model, how it runs, which index. */
export const INDEX_MODEL_OPTIONS = {
  ...MODEL_OPTIONS,
  ...PRECISION_OPTIONS,
  ...RUN_OPTIONS,
  ...DB_OPTIONS,
} as const;

export const MODEL_USAGE = `  --weights FILE    model checkpoint (default: the built-in model, trained to tell slides apart); to
                    search by tissue class across slides, the built-in tissue-class model:
                    ${TISSUE_MODEL_PATH}
  --backbone FILE   replace the backbone with a timm convnextv2_* model.safetensors (same preset),
                    or the name of weights fetched with 'histoseek weights pull'
  --size S          resize images to S×S, a multiple of 32 (default: the model's; 128 for the built-in ones)
  --encoder E       a real image encoder instead of the built-in demo models: an ONNX file (FILE.onnx),
                    or a foundation model fetched with 'histoseek weights pull NAME' (uni, virchow2…);
                    its pooled features are the descriptor, or with --weights, a checkpoint that
                    'histoseek train' fitted over it (docs/models-and-weights.md)
  --mean R,G,B      an ONNX encoder's input normalisation, (v/255 − mean) / std; --std R,G,B;
  --channels RGB|BGR  its channel order (default: FILE.json beside the .onnx, else ImageNet's, RGB)
  --encoder-output T  the ONNX tensor taken as features (default: the last 4-D tensor, averaged)
  --encoder-pyramid A,B,C,D  its tensors at strides 4, 8, 16, 32 (default: found by running it once)
`;

export function parseModelOptions(o: {
  weights?: string;
  backbone?: string;
  size?: string;
  precision?: string;
  encoder?: string;
  mean?: string;
  std?: string;
  channels?: string;
  'encoder-output'?: string;
  'encoder-pyramid'?: string;
}): ModelOptions {
  const pyramid = o['encoder-pyramid']?.split(',').map((name) => name.trim());
  if (pyramid && (pyramid.length !== 4 || pyramid.some((name) => !name)))
    throw new Error(`--encoder-pyramid takes four tensor names separated by commas, got '${o['encoder-pyramid']}'`);
  const encoderFlags = ['mean', 'std', 'channels', 'encoder-output', 'encoder-pyramid'] as const;
  const stray = encoderFlags.filter((flag) => o[flag] !== undefined);
  if (stray.length && o.encoder === undefined)
    throw new Error(`--${stray[0]} describes an encoder's input or outputs: it needs --encoder FILE.onnx`);
  return {
    weights: o.weights,
    backbone: o.backbone,
    size: optionalPositiveInt(o.size, '--size'),
    precision: parsePrecision(o.precision),
    encoder: o.encoder,
    encoderInput: {
      ...(o.mean !== undefined ? { mean: parseRgb(o.mean, '--mean') } : {}),
      ...(o.std !== undefined ? { std: parseRgb(o.std, '--std', true) } : {}),
      ...(o.channels !== undefined ? { channels: parseChannels(o.channels) } : {}),
    },
    encoderOutput: o['encoder-output'],
    encoderPyramid: pyramid,
  };
}

/** Three numbers for R, G and B (std: each positive). */
function parseRgb(value: string, flag: string, positive = false): Rgb {
  const parts = value.split(',').map(Number);
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v) || (positive && v <= 0)))
    throw new Error(
      `${flag} takes three${positive ? ' positive' : ''} numbers for R,G,B (e.g. 0.485,0.456,0.406), got '${value}'`,
    );
  return parts as unknown as Rgb;
}

function parseChannels(value: string): 'RGB' | 'BGR' {
  const upper = value.toUpperCase();
  if (upper !== 'RGB' && upper !== 'BGR') throw new Error(`--channels must be RGB or BGR, got '${value}'`);
  return upper;
}

export function parsePrecision(value: string | undefined): Precision | undefined {
  if (value === undefined || (PRECISIONS as readonly string[]).includes(value)) return value as Precision | undefined;
  throw new Error(`--precision must be ${PRECISIONS.join(' or ')}, got '${value}'`);
}
