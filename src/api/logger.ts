/** Where the library's notes and warnings go: nowhere unless the caller passes a logger (pino's, console, the CLI's). */

/** What the library says while it works: a pino logger, `console`, or anything with these two methods. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** The default: the library prints nothing. */
export const SILENT_LOGGER: Logger = { info: () => undefined, warn: () => undefined };

/** Lines on a stream, as the command line prints them. */
export function streamLogger(stream: NodeJS.WritableStream): Logger {
  const line = (message: string) => void stream.write(`${message}\n`);
  return { info: line, warn: line };
}
