/** `histoseek weights pull|list`: pathology foundation models and ConvNeXt backbones from the Hugging Face hub, cached locally. */
import { FOUNDATION_MODELS } from '../weights/foundation-models.js';
import { licenceOf, listWeights, pullWeights, weightsCacheDir } from '../weights/hub.js';
import { defineCommand } from './command.js';
import { Progress } from '../util/progress.js';

const NAME_COLUMN = 15;

const MODEL_ROWS = Object.entries(FOUNDATION_MODELS)
  .map(
    ([name, m]) =>
      `  ${name.padEnd(NAME_COLUMN)}${m.repo.padEnd(29)}${m.gated ? 'gated ' : '      '}${m.licence.name}\n`,
  )
  .join('');

const USAGE = `histoseek weights pull NAME [--sha256 HEX] [--force]
histoseek weights list

pull downloads a pathology foundation model from the Hugging Face hub into ${weightsCacheDir()}
(set HISTOSEEK_CACHE to move it; HF_ENDPOINT to use a mirror):
${MODEL_ROWS}
Gated models need HF_TOKEN set to a hub access token (https://huggingface.co/settings/tokens) of an
account that has accepted the model's licence on its page. The licence is shown before the download
and kept with the weights; most of these are for non-commercial research only.

NAME may also be a timm ConvNeXt V2 (or V1) checkpoint, e.g. convnextv2_atto.fcmae_ft_in1k, to use
with --backbone NAME (same preset: atto, femto, pico, nano, tiny, base...). ConvNeXt V2 weights are
CC-BY-NC-4.0 (non-commercial); ConvNeXt V1 weights are Apache-2.0.

An interrupted download resumes; the file is checked against the hub's SHA-256 (or --sha256) and
discarded on a mismatch. A model already cached is not downloaded again unless --force.
`;

function megabytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export const weightsCommand = defineCommand({
  usage: USAGE,
  options: { sha256: { type: 'string' }, force: { type: 'boolean', default: false } },
  async run({ values, positionals }) {
    const [verb, name] = positionals;
    if (!verb) {
      process.stdout.write(USAGE);
      return 1;
    }
    if (verb === 'list') {
      const cached = await listWeights();
      if (cached.length === 0) process.stdout.write(`no weights cached in ${weightsCacheDir()}\n`);
      for (const w of cached)
        process.stdout.write(
          `${w.name}\t${megabytes(w.bytes)}\t${w.licence?.name ?? 'licence not recorded'}\tsha256 ${w.sha256.slice(0, 16)}…\t${w.path}\n`,
        );
      return 0;
    }
    if (verb !== 'pull' || !name) throw new Error(`usage:\n${USAGE}`);
    const licence = licenceOf(name);
    process.stderr.write(`${name}: licence ${licence.name} — read it at ${licence.url}\n`);
    const bar = { progress: null as Progress | null };
    const record = await pullWeights(name, {
      sha256: values.sha256,
      force: values.force,
      onProgress: (done, total) => {
        bar.progress ??= new Progress(`pulling ${name}`, Math.ceil((total ?? done) / 2 ** 20), 'MiB');
        bar.progress.reach(Math.floor(done / 2 ** 20));
      },
    });
    bar.progress?.finish();
    process.stdout.write(`${record.path}\n`);
    process.stderr.write(`${record.name}: ${megabytes(record.bytes)}, sha256 ${record.sha256}\n`);
    if (record.checked === false)
      process.stderr.write(
        `${record.name}: the hub gave no SHA-256 to check the file against; pass --sha256 to check it\n`,
      );
    return 0;
  },
});
