#!/usr/bin/env node
// Entry point of the `histoseek` command: runs the compiled CLI (npm ci builds dist/ via `prepare`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`histoseek: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.HISTOSEEK_DEBUG) console.error(err);
    process.exitCode = 1;
  },
);
