/**
 * Where notes and warnings go. The library takes a caller's logger (pino's, `console`, the command
 * line's) and prints nothing without one; lower layers called outside the library (the commands
 * that embed or train directly) note on stderr by default.
 */

/** What histoseek says while it works: a pino logger, `console`, or anything with these two methods. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** Says nothing: the library's default. */
export const SILENT_LOGGER: Logger = { info: () => undefined, warn: () => undefined };

/** Lines on stderr, as the command line prints them. */
export const STDERR_LOGGER: Logger = {
  info: (message) => void process.stderr.write(`${message}\n`),
  warn: (message) => void process.stderr.write(`${message}\n`),
};
