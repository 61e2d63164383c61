/**
 * `--encoder FILE.onnx`: what histoseek needs to know of a user's ONNX image model, from the file
 * itself, an optional sidecar `FILE.json` beside it and the command's options, in rising order of
 * precedence; ImageNet's preprocessing where none of them says.
 *
 * The sidecar (every key optional, no others allowed):
 *   {
 *     "size": 224,                       // input side in pixels (default: the model's, when fixed; else 224)
 *     "mean": [0.485, 0.456, 0.406],     // per channel, in the model's channel order, of v / 255
 *     "std": [0.229, 0.224, 0.225],      // likewise; a model fed 0…255 has mean [0, 0, 0], std [1/255, …]
 *     "channels": "RGB",                 // or "BGR": the order of the model's input channels
 *     "output": "tensor name",           // the features (2-D as is, 4-D global-average-pooled)
 *     "pyramid": ["s4", "s8", "s16", "s32"]  // the tensors at strides 4, 8, 16, 32 for the LGFFEM neck
 *   }
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { IMAGENET_PREPROCESSING, type OnnxEncoderSpec, type Preprocessing } from '../model/encoder.js';
import { imageInput, producedTensors, readOnnxFile, type OnnxFile } from './onnx-encoder-file.js';

/** What the command's options (or a library caller) set; each beats the sidecar's value. */
export interface OnnxEncoderOptions extends Partial<Preprocessing> {
  output?: string;
  pyramid?: readonly string[];
}

type Field = keyof OnnxEncoderOptions;

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isName = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isTriple = (v: unknown): v is number[] => Array.isArray(v) && v.length === 3 && v.every(isNumber);

/** Each field's check and, for the error, the rule in words. */
const RULES: Record<Field, { ok: (v: unknown) => boolean; rule: string }> = {
  size: { ok: (v) => isNumber(v) && Number.isInteger(v) && v >= 1, rule: 'a whole number of pixels ≥ 1' },
  mean: { ok: isTriple, rule: 'three numbers, one per channel' },
  std: { ok: (v) => isTriple(v) && v.every((s) => s > 0), rule: 'three positive numbers, one per channel' },
  channels: { ok: (v) => v === 'RGB' || v === 'BGR', rule: '"RGB" or "BGR"' },
  output: { ok: isName, rule: 'the name of a tensor' },
  pyramid: {
    ok: (v) => Array.isArray(v) && v.length === 4 && v.every(isName) && new Set(v).size === 4,
    rule: 'four different tensor names, stride 4 first',
  },
};
const FIELDS = Object.keys(RULES) as Field[];

/** The sidecar's path: FILE.json beside FILE.onnx (FILE.x.json for a file not named .onnx). */
export function sidecarPath(modelPath: string): string {
  const name = basename(modelPath);
  return join(dirname(modelPath), `${extname(name) === '.onnx' ? name.slice(0, -5) : name}.json`);
}

/** The sidecar's fields, checked; none when there is no sidecar. */
async function readSidecar(path: string): Promise<OnnxEncoderOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(
      `${path}: cannot read the encoder's settings (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { cause: err },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${path}: expected a JSON object of the encoder's settings (${FIELDS.join(', ')})`);
  const unknown = Object.keys(raw).filter((k) => !(FIELDS as string[]).includes(k));
  if (unknown.length)
    throw new Error(
      `${path}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (allowed: ${FIELDS.join(', ')})`,
    );
  checkFields(raw as OnnxEncoderOptions, (field) => `${path}: "${field}"`);
  return raw as OnnxEncoderOptions;
}

function checkFields(options: OnnxEncoderOptions, where: (field: Field) => string): void {
  for (const field of FIELDS) {
    const value = options[field];
    if (value !== undefined && !RULES[field].ok(value))
      throw new Error(`${where(field)} must be ${RULES[field].rule}, got ${JSON.stringify(value)}`);
  }
}

/** Where a setting came from, for errors about it. */
function origin(field: Field, options: OnnxEncoderOptions, sidecar: string): string {
  return options[field] !== undefined ? `the ${field} option` : `"${field}" in ${sidecar}`;
}

/** The side the file's input takes: null when its height and width are open. */
function fixedSide(file: OnnxFile): number | null {
  const input = imageInput(file);
  if (input.height === null && input.width === null) return null;
  if (input.height === null || input.width === null || input.height !== input.width)
    throw new Error(
      `${file.path}: the input '${input.name}' is ${input.height ?? '?'}×${input.width ?? '?'}; histoseek feeds square images`,
    );
  return input.height;
}

/**
 * Reads `path` (an ONNX image model), its sidecar and `options` into the spec every session and
 * identity is built from. The model is not run here: probeOnnxEncoder does that.
 */
export async function readOnnxEncoder(path: string, options: OnnxEncoderOptions = {}): Promise<OnnxEncoderSpec> {
  const absolute = resolve(path);
  const file = await readOnnxFile(absolute);
  checkFields(options, (field) => `${absolute}: the ${field} option`);
  const sidecar = sidecarPath(absolute);
  const merged = { ...(await readSidecar(sidecar)), ...definedOnly(options) };
  const fixed = fixedSide(file);
  const size = merged.size ?? fixed ?? IMAGENET_PREPROCESSING.size;
  if (fixed !== null && size !== fixed)
    throw new Error(
      `${absolute}: the model takes ${fixed}×${fixed} images, not the ${size}×${size} asked for by ${origin('size', options, sidecar)}`,
    );
  const tensors = new Set(producedTensors(file.graph));
  for (const field of ['output', 'pyramid'] as const) {
    for (const name of [merged[field] ?? []].flat()) {
      if (!tensors.has(name))
        throw new Error(`${absolute}: no tensor named '${name}' (${origin(field, options, sidecar)})`);
    }
  }
  return {
    kind: 'onnx',
    path: absolute,
    sha256: file.sha256,
    preprocessing: {
      size,
      mean: (merged.mean ?? IMAGENET_PREPROCESSING.mean) as Preprocessing['mean'],
      std: (merged.std ?? IMAGENET_PREPROCESSING.std) as Preprocessing['std'],
      channels: merged.channels ?? IMAGENET_PREPROCESSING.channels,
    },
    ...(merged.output ? { output: merged.output } : {}),
    ...(merged.pyramid ? { pyramid: [...merged.pyramid] } : {}),
  };
}

/** The options a caller set, leaving out keys present as undefined (an unset flag) so they do not hide the sidecar's. */
function definedOnly(options: OnnxEncoderOptions): OnnxEncoderOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as OnnxEncoderOptions;
}
