/** The `histoseek` command: dispatches to a subcommand. */
import type { Command } from './command.js';

/**
 * The subcommands, each loaded only when it runs: `histoseek --help` loads none of them, and a
 * command loads only the modules it needs (tfjs, sharp, fastify, PostgreSQL's client load where used).
 */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

const COMMANDS: CommandEntry[] = [
  {
    name: 'demo',
    summary: 'generate synthetic histology, index it, evaluate it: the whole system, offline',
    load: async () => (await import('./demo-cmd.js')).demoCommand,
  },
  {
    name: 'index',
    summary: 'embed a collection into an index (resumable); remove slides or folders from it',
    load: async () => (await import('./index-cmd.js')).indexCommand,
  },
  {
    name: 'search',
    summary: 'find the indexed tissue most similar to an image',
    load: async () => (await import('./search-cmd.js')).searchCommand,
  },
  {
    name: 'serve',
    summary: 'serve the search web page and JSON API over an index',
    load: async () => (await import('./serve-cmd.js')).serveCommand,
  },
  {
    name: 'eval',
    summary: 'measure retrieval: η figures, Recall@k, mAP@10, majority vote, confusion matrix',
    load: async () => (await import('./eval-cmd.js')).evalCommand,
  },
  {
    name: 'train',
    summary: 'train the neck and head on labelled collections (Sub-center ArcFace)',
    load: async () => (await import('./train-cmd.js')).trainCommand,
  },
  {
    name: 'explain',
    summary: 'Grad-CAM++ heat maps: why does this image match that one?',
    load: async () => (await import('./explain-cmd.js')).explainCommand,
  },
  {
    name: 'map',
    summary: 'draw the embedding space of an index (UMAP or PCA), coloured by label',
    load: async () => (await import('./map-cmd.js')).mapCommand,
  },
  {
    name: 'migrate',
    summary: 'copy a folder index into a PostgreSQL store',
    load: async () => (await import('./migrate-cmd.js')).migrateCommand,
  },
  {
    name: 'embed',
    summary: 'embed images (or preprocessed tensors) into descriptors',
    load: async () => (await import('./embed.js')).embedCommand,
  },
  {
    name: 'slide',
    summary: 'inspect a whole-slide image, or draw its tissue mask',
    load: async () => (await import('./slide-cmd.js')).slideCommand,
  },
  {
    name: 'synth',
    summary: 'write a synthetic H&E collection (for tests, demos, training the shipped models)',
    load: async () => (await import('./synth-cmd.js')).synthCommand,
  },
  {
    name: 'weights',
    summary: 'download (pull) and list cached pretrained ConvNeXt backbones',
    load: async () => (await import('./weights-cmd.js')).weightsCommand,
  },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `histoseek — content-based image retrieval for histopathology (LGFFEM)

Usage: histoseek <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'histoseek <command> --help' for a command's options.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new Error(`unknown command '${name}'\n\n${usage()}`);
  const loaded = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(loaded.usage);
    return 0;
  }
  return loaded.run(rest);
}
