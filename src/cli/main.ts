/** The `histoseek` command: dispatches to a subcommand. */
import type { Command } from './command.js';
import { demoCommand } from './demo-cmd.js';
import { embedCommand } from './embed.js';
import { explainCommand } from './explain-cmd.js';
import { evalCommand } from './eval-cmd.js';
import { indexCommand } from './index-cmd.js';
import { mapCommand } from './map-cmd.js';
import { migrateCommand } from './migrate-cmd.js';
import { searchCommand } from './search-cmd.js';
import { serveCommand } from './serve-cmd.js';
import { slideCommand } from './slide-cmd.js';
import { synthCommand } from './synth-cmd.js';
import { trainCommand } from './train-cmd.js';
import { weightsCommand } from './weights-cmd.js';

const COMMANDS: Command[] = [demoCommand, indexCommand, searchCommand, serveCommand, evalCommand, trainCommand, explainCommand, mapCommand, migrateCommand, embedCommand, slideCommand, synthCommand, weightsCommand];

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
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage);
    return 0;
  }
  return command.run(rest);
}
