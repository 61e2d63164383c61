/** The model options (--weights, --backbone, --size), the same in every command that embeds images (what they mean: api/models.ts). */
import type { ModelOptions } from '../api/models.js';
import { TISSUE_MODEL_PATH } from '../model/checkpoint.js';
import { PRECISIONS, type Precision } from '../model/identity.js';
import { optionalPositiveInt } from './args.js';
import { RUN_OPTIONS } from './run-options.js';
import { DB_OPTIONS } from './store-options.js';

export const MODEL_OPTIONS = {
  weights: { type: 'string' },
  backbone: { type: 'string' },
  size: { type: 'string' },
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
`;

export function parseModelOptions(o: {
  weights?: string;
  backbone?: string;
  size?: string;
  precision?: string;
}): ModelOptions {
  return {
    weights: o.weights,
    backbone: o.backbone,
    size: optionalPositiveInt(o.size, '--size'),
    precision: parsePrecision(o.precision),
  };
}

export function parsePrecision(value: string | undefined): Precision | undefined {
  if (value === undefined || (PRECISIONS as readonly string[]).includes(value)) return value as Precision | undefined;
  throw new Error(`--precision must be ${PRECISIONS.join(' or ')}, got '${value}'`);
}
