/** The `histoseek` command: parses arguments and dispatches to a subcommand. */
import { parseArgs } from 'node:util';
import { EMBED_USAGE, runEmbed } from './embed.js';

const USAGE = `histoseek — content-based image retrieval for histopathology (LGFFEM)

Usage: histoseek <command> [options]

Commands:
  embed    embed images (or preprocessed tensors) into descriptors

Run 'histoseek <command> --help' for a command's options.
`;

function positiveInt(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

async function embedCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      tensors: { type: 'string' },
      weights: { type: 'string' },
      backbone: { type: 'string' },
      out: { type: 'string', default: 'embeddings.safetensors' },
      trace: { type: 'boolean', default: false },
      batch: { type: 'string' },
      threads: { type: 'string' },
      size: { type: 'string' },
      'skip-bad': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(EMBED_USAGE);
    return 0;
  }
  return runEmbed({
    inputs: positionals,
    tensors: values.tensors,
    weights: values.weights,
    backbone: values.backbone,
    out: values.out!,
    trace: values.trace!,
    batch: positiveInt(values.batch, 8, '--batch'),
    threads: positiveInt(values.threads, 2, '--threads'),
    size: values.size === undefined ? undefined : positiveInt(values.size, 224, '--size'),
    skipBad: values['skip-bad']!,
  });
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = { embed: embedCommand };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 1;
  }
  const run = COMMANDS[command];
  if (!run) throw new Error(`unknown command '${command}'\n\n${USAGE}`);
  return run(rest);
}
