/** `histoseek weights pull|list`: pretrained backbones from the Hugging Face hub, cached locally. */
import { listWeights, pullWeights, weightsCacheDir } from '../weights/hub.js';
import { parse } from './args.js';
import type { Command } from './command.js';
import { Progress } from '../util/progress.js';

const USAGE = `histoseek weights pull NAME [--sha256 HEX]
histoseek weights list

pull downloads a timm ConvNeXt V2 (or V1) checkpoint from the Hugging Face hub, e.g.
convnextv2_atto.fcmae_ft_in1k, into ${weightsCacheDir()} (set HISTOSEEK_CACHE to move it;
HF_ENDPOINT to use a mirror). An interrupted download resumes; the file is checked against the
hub's SHA-256. Use it with --backbone NAME (same preset: atto, femto, pico, nano, tiny, base...).
Licences: ConvNeXt V2 weights are CC-BY-NC-4.0 (non-commercial); ConvNeXt V1 weights are Apache-2.0.
`;

function megabytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export const weightsCommand: Command = {
  usage: USAGE,
  async run(args) {
    const { values, positionals } = parse(args, { sha256: { type: 'string' } }, USAGE);
    const [verb, name] = positionals;
    if (!verb) {
      process.stdout.write(USAGE);
      return 1;
    }
    if (verb === 'list') {
      const cached = await listWeights();
      if (cached.length === 0) process.stdout.write(`no weights cached in ${weightsCacheDir()}\n`);
      for (const w of cached)
        process.stdout.write(`${w.name}\t${megabytes(w.bytes)}\tsha256 ${w.sha256.slice(0, 16)}…\t${w.path}\n`);
      return 0;
    }
    if (verb !== 'pull' || !name) throw new Error(`usage:\n${USAGE}`);
    const bar = { progress: null as Progress | null };
    const record = await pullWeights(name, {
      sha256: values.sha256,
      onProgress: (done, total) => {
        bar.progress ??= new Progress(`pulling ${name}`, Math.ceil((total ?? done) / 2 ** 20), 'MiB');
        bar.progress.reach(Math.floor(done / 2 ** 20));
      },
    });
    bar.progress?.finish();
    process.stdout.write(`${record.path}\n`);
    process.stderr.write(`${record.name}: ${megabytes(record.bytes)}, sha256 ${record.sha256}\n`);
    return 0;
  },
};
