/** A subcommand of `histoseek` (its name and summary are in main.ts's list, which loads it when it runs). */
export interface Command {
  usage: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}
