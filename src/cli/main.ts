/** The `histoseek` command: dispatches to a subcommand. */
import type { Command } from './command.js';

/**
 * The subcommands, each loaded only when it runs: `histoseek --help` loads none of them, and a
 * command loads only the modules it needs (sharp, fastify, PostgreSQL's client load where used).
 */
const COMMANDS = {
  demo: async () => (await import('./demo-cmd.js')).demoCommand,
  index: async () => (await import('./index-cmd.js')).indexCommand,
  search: async () => (await import('./search-cmd.js')).searchCommand,
  serve: async () => (await import('./serve-cmd.js')).serveCommand,
  eval: async () => (await import('./eval-cmd.js')).evalCommand,
  train: async () => (await import('./train-cmd.js')).trainCommand,
  explain: async () => (await import('./explain-cmd.js')).explainCommand,
  map: async () => (await import('./map-cmd.js')).mapCommand,
  migrate: async () => (await import('./migrate-cmd.js')).migrateCommand,
  embed: async () => (await import('./embed.js')).embedCommand,
  slide: async () => (await import('./slide-cmd.js')).slideCommand,
  synth: async () => (await import('./synth-cmd.js')).synthCommand,
  weights: async () => (await import('./weights-cmd.js')).weightsCommand,
} satisfies Record<string, () => Promise<Command>>;

type CommandName = keyof typeof COMMANDS;

/** What `histoseek --help` says of each command, in its order. */
const SUMMARIES: Record<CommandName, string> = {
  demo: 'generate synthetic histology, index it, evaluate it: the whole system, offline',
  index: 'embed a collection into an index (resumable); remove slides or folders from it',
  search: 'find the indexed tissue most similar to an image',
  serve: 'serve the search web page and JSON API over an index',
  eval: 'measure retrieval: η figures, Recall@k, mAP@10, majority vote, confusion matrix',
  train: 'train the neck and head on labelled collections (Sub-center ArcFace)',
  explain: 'Grad-CAM++ heat maps: why does this image match that one?',
  map: 'draw the embedding space of an index (UMAP or PCA), coloured by label',
  migrate: 'copy a folder index into a PostgreSQL store',
  embed: 'embed images (or preprocessed tensors) into descriptors',
  slide: 'inspect a whole-slide image, or draw its tissue mask',
  synth: 'write a synthetic H&E collection (for tests, demos, training the shipped models)',
  weights: 'download (pull) and list cached pretrained ConvNeXt backbones',
};

function usage(): string {
  const summaries = Object.entries(SUMMARIES);
  const width = Math.max(...summaries.map(([name]) => name.length));
  return `histoseek — content-based image retrieval for histopathology (LGFFEM)

Usage: histoseek <command> [options]

Commands:
${summaries.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`).join('\n')}

Run 'histoseek <command> --help' for a command's options.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  if (!Object.hasOwn(COMMANDS, name)) throw new Error(`unknown command '${name}'\n\n${usage()}`);
  const loaded = await COMMANDS[name as CommandName]();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(loaded.usage);
    return 0;
  }
  return loaded.run(rest);
}
