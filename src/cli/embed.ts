/** `histoseek embed`: image files (or preprocessed tensors) → descriptors in a safetensors file. */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { IMAGE_EXTENSIONS } from '../data/image.js';
import { embedImageFiles } from '../engine/embed-images.js';
import { createEmbedder } from '../engine/embedders.js';
import { isFeatureModel } from '../model/embedding-model.js';
import { configToMetadata } from '../model/config.js';
import { concatFirstAxis, sliceFirstAxis, type HostTensor } from '../model/host-tensor.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import { defineCommand } from './command.js';
import { MODEL_OPTIONS, MODEL_USAGE, parseModelOptions, PRECISION_OPTIONS, PRECISION_USAGE } from './model-options.js';
import { batchUsage, parseRunOptions, RUN_OPTIONS, threadsUsage } from './run-options.js';
import { resolveModel, type ModelOptions } from '../api/models.js';
import { Progress } from '../util/progress.js';

export interface EmbedOptions extends ModelOptions {
  inputs: string[];
  tensors?: string;
  out: string;
  trace: boolean;
  batch: number;
  threads: number;
  skipBad: boolean;
}

/** Images per batch unless --batch says otherwise. */
const BATCH = 8;
/** Where this usage text starts an option's description. */
const COLUMN = 20;

const USAGE = `histoseek embed [IMAGE|FOLDER ...] [options]

Embeds images with LGFFEM and writes their raw descriptors f_e ([N, 4C]) as 'embedding'.

  IMAGE|FOLDER      JPEG, PNG, TIFF or WebP files; folders are searched recursively
  --tensors FILE    embed preprocessed tensors instead: safetensors 'input' [N, 3, H, W] (normalised)
${MODEL_USAGE}${PRECISION_USAGE}  --out FILE        output safetensors file (default: embeddings.safetensors)
  --trace           also write backbone.{0..3} and neck{L}.{0..3} (NCHW)
${batchUsage(BATCH, COLUMN)}${threadsUsage(COLUMN)}  --skip-bad        report unreadable images and embed the rest (default: stop at the first)
`;

/** Image files named directly or found under the given folders, sorted within each folder. */
export async function expandImagePaths(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const info = await stat(input).catch(() => null);
    if (!info) throw new Error(`${input}: no such file or folder`);
    if (!info.isDirectory()) {
      out.push(input);
      continue;
    }
    const entries = (await readdir(input, { recursive: true })).sort();
    out.push(...entries.filter((e) => IMAGE_EXTENSIONS.has(extname(e).toLowerCase())).map((e) => join(input, e)));
  }
  return out;
}

async function readInputTensors(path: string): Promise<HostTensor> {
  const input = (await readSafetensors(path)).tensors.get('input');
  if (!input) throw new Error(`${path}: has no tensor named 'input'`);
  const [, c, h, w] = input.shape;
  if (input.shape.length !== 4 || c !== 3 || h % 32 !== 0 || w % 32 !== 0) {
    throw new Error(
      `${path}: 'input' must be [N, 3, H, W] with H and W multiples of 32, got [${input.shape.join(', ')}]`,
    );
  }
  return input;
}

export async function runEmbed(o: EmbedOptions): Promise<number> {
  if (!o.tensors && o.inputs.length === 0)
    throw new Error(`nothing to embed: give image files or folders, or --tensors FILE\n\n${USAGE}`);
  const model = await resolveModel(o);
  const paths = o.tensors ? [] : await expandImagePaths(o.inputs);
  if (!o.tensors && paths.length === 0) throw new Error(`no images found in ${o.inputs.join(', ')}`);
  const embedder = await createEmbedder(model, { threads: o.threads, trace: o.trace });
  const collected = new Map<string, HostTensor[]>();
  const keep = (outputs: Map<string, HostTensor>) => {
    for (const [name, t] of outputs)
      collected.set(name, [...(collected.get(name) ?? []), { shape: t.shape, data: t.data.slice() }]);
  };
  const embedded: string[] = [];
  let failed = 0;
  if (o.tensors) {
    const input = await readInputTensors(o.tensors);
    const progress = new Progress('embedding', input.shape[0], 'tensors');
    for (let i = 0; i < input.shape[0]; i += o.batch) {
      const end = Math.min(i + o.batch, input.shape[0]);
      keep(await embedder.run(sliceFirstAxis(input, i, end)));
      progress.advance(end - i);
    }
    progress.finish();
  } else {
    const progress = new Progress('embedding', paths.length, 'images');
    for await (const batch of embedImageFiles(embedder, paths, o.batch)) {
      for (const failure of batch.failures) {
        if (!o.skipBad)
          throw new Error(`${failure.message}\n(nothing was written; use --skip-bad to embed the other images)`);
        process.stderr.write(`skipped ${failure.message}\n`);
      }
      failed += batch.failures.length;
      embedded.push(...batch.paths);
      if (batch.paths.length) keep(batch.outputs);
      progress.advance(batch.paths.length + batch.failures.length);
    }
    progress.finish();
  }
  await embedder.release();
  if (collected.size === 0) throw new Error('no image could be embedded; nothing was written');
  const tensors = new Map([...collected].map(([name, parts]) => [name, concatFirstAxis(parts)]));
  const metadata = {
    ...(isFeatureModel(model) ? { input_size: String(model.inputSize) } : configToMetadata(model.config)),
    model: model.source,
    ...(o.tensors ? { source: o.tensors } : { paths: JSON.stringify(embedded) }),
  };
  await writeSafetensors(o.out, tensors, metadata);
  const count = tensors.get('embedding')!.shape[0];
  process.stderr.write(
    `wrote ${count} descriptors of ${tensors.get('embedding')!.shape[1]} values to ${o.out}${failed ? ` (${failed} unreadable images skipped)` : ''}\n`,
  );
  return 0;
}

export const embedCommand = defineCommand({
  usage: USAGE,
  options: {
    ...MODEL_OPTIONS,
    ...PRECISION_OPTIONS,
    ...RUN_OPTIONS,
    tensors: { type: 'string' },
    out: { type: 'string', default: 'embeddings.safetensors' },
    trace: { type: 'boolean', default: false },
    'skip-bad': { type: 'boolean', default: false },
  },
  async run({ values, positionals }) {
    return runEmbed({
      inputs: positionals,
      tensors: values.tensors,
      ...parseModelOptions(values),
      out: values.out!,
      trace: values.trace!,
      ...parseRunOptions(values, BATCH),
      skipBad: values['skip-bad']!,
    });
  },
});
