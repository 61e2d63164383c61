/** A subcommand of `histoseek` (its name and summary are in main.ts's tables, which load it when it runs). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  usage: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** A command's arguments as parseArgs reads them against its `options`: `values` and `positionals`. */
type ParsedArgs<T extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
>;

/**
 * A command whose `run` gets its arguments already parsed against `options`; an argument they do
 * not allow is an error that ends with the usage (`--help` is answered before a command runs).
 */
export function defineCommand<T extends Options>(command: {
  usage: string;
  options: T;
  run(parsed: ParsedArgs<T>): Promise<number>;
}): Command {
  const { usage, options } = command;
  return {
    usage,
    async run(args) {
      let parsed: ParsedArgs<T>;
      try {
        parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
      } catch (err) {
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`, { cause: err });
      }
      return command.run(parsed);
    },
  };
}
