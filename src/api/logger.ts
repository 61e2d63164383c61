/** Where the library's notes and warnings go: nowhere unless the caller passes a logger (pino's, console, the CLI's). */

import type { Logger } from '../util/logger.js';

export { SILENT_LOGGER, type Logger } from '../util/logger.js';

/** Lines on a stream, as the command line prints them. */
export function streamLogger(stream: NodeJS.WritableStream): Logger {
  const line = (message: string) => void stream.write(`${message}\n`);
  return { info: line, warn: line };
}
