/**
 * Plumbing shared by the benchmarks: JSON-lines results (stdout and bench/results/), timing,
 * percentiles, RSS, child processes — node workers and Python yardsticks — that answer in JSON, and
 * the built `histoseek serve`. Progress goes to stderr so that stdout stays machine-readable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
/** Debian's python, which has python3-torch; the python3 first on PATH (pyenv) has no torch. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export type JsonRecord = Record<string, unknown>;

export function info(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Collects result records: each is printed as one JSON line, and `save` writes them all to a file. */
export class Results {
  private readonly lines: string[] = [];
  private stamp: string | undefined;

  constructor(private readonly name: string) {}

  emit(record: JsonRecord): void {
    const line = JSON.stringify(record);
    this.lines.push(line);
    process.stdout.write(`${line}\n`);
  }

  /** Writes bench/results/<name>-<UTC time>.json (colons dropped from the time, for portable file names). */
  async save(): Promise<string> {
    const file = this.file('json');
    await writeFile(file, this.lines.map((l) => `${l}\n`).join(''));
    return file;
  }

  /** bench/results/<name>-<UTC time>.<extension>: the time is fixed on the first call, so a figure saved beside the JSON shares its name. */
  file(extension: string): string {
    this.stamp ??= new Date().toISOString().slice(0, 19).replaceAll(':', '-');
    return path.join(BENCH_DIR, 'results', `${this.name}-${this.stamp}Z.${extension}`);
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The p-th percentile (nearest rank) of ascending values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Runs `step` `warmup` times untimed, then `rounds` times timed; returns each timed run's seconds. */
export async function timeRounds(step: () => Promise<unknown>, rounds: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await step();
  const seconds: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await step();
    seconds.push((performance.now() - start) / 1000);
  }
  return seconds;
}

/**
 * This process's peak resident set size so far, in MiB: VmHWM from /proc (getrusage's maxRSS
 * can carry a spawning parent's peak into a child on Linux).
 */
export function peakRssMib(): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/**
 * This process's resident memory now, split into private memory (heap, buffers) and mapped file
 * pages (an index read through mmap): the kernel can drop the latter under memory pressure.
 */
export function rssPartsMib(): { anon: number; file: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { anon: field('RssAnon'), file: field('RssFile') };
}

/** Another process's resident set size and its peak so far, in MiB, from /proc/<pid>/status. */
export function processRssMib(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

/** Rounds to `digits` significant digits for reporting: enough to compare, no float noise. */
export function significant(value: number, digits = 4): number {
  return Number(value.toPrecision(digits));
}

/** A child process that could not run or did not answer; `code` is the spawn error's (e.g. ENOENT). */
export class ChildError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const STDERR_TAIL = 2000;

/**
 * Runs a command that prints its answer as the last line of stdout, a JSON object. Its stderr is
 * passed through (progress stays visible) and its tail kept for the error message. An answer with
 * an `error` string, a non-zero exit or no JSON answer rejects with a ChildError; so does a run
 * longer than `timeoutMs`, killed with SIGTERM (no limit by default).
 */
export function runJsonChild(command: string, args: string[], timeoutMs?: number): Promise<JsonRecord> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderrTail = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL);
    });
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new ChildError(`cannot run ${command}: ${e.message}`, e.code)),
    );
    child.on('close', (status, signal) => {
      const answer = parseLastJsonLine(stdout);
      if (typeof answer?.error === 'string') reject(new ChildError(answer.error));
      else if (status !== 0 || !answer) {
        const how = signal
          ? `was killed by ${signal}`
          : status !== 0
            ? `exited with status ${status}`
            : 'printed no JSON answer';
        reject(
          new ChildError(
            `${path.basename(command)} ${args.join(' ')} ${how}${stderrTail ? `: ${stderrTail.trim()}` : ''}`,
          ),
        );
      } else resolve(answer);
    });
  });
}

/** A numeric field of a child's answer; a missing one throws, so a changed answer fails loudly. */
export function numberField(answer: JsonRecord, key: string): number {
  const value = answer[key];
  if (typeof value !== 'number') throw new Error(`child answer has no number '${key}': ${JSON.stringify(answer)}`);
  return value;
}

function parseLastJsonLine(text: string): JsonRecord | undefined {
  const last = text.trim().split('\n').at(-1);
  if (!last?.startsWith('{')) return undefined;
  try {
    return JSON.parse(last) as JsonRecord;
  } catch {
    return undefined;
  }
}

/** Runs a TypeScript file in a fresh node process with this one's loader flags (tsx), e.g. a benchmark's own worker mode. */
export function runNodeWorker(script: string, args: string[]): Promise<JsonRecord> {
  return runJsonChild(process.execPath, [...process.execArgv, script, ...args]);
}

/** Runs a Python yardstick with Debian's python. */
export function runPython(script: string, args: string[]): Promise<JsonRecord> {
  return runJsonChild(SYSTEM_PYTHON, [script, ...args]);
}

/** The built command, as users run it (`npx tsc -p tsconfig.json` builds dist/ first). */
export const HISTOSEEK = fileURLToPath(new URL('../bin/histoseek.js', import.meta.url));
/** A rate limit no load here reaches: the limiter still runs, as it does for users. */
const UNREACHED_RATE = String(10 ** 7);

/** `histoseek serve` on DB on 127.0.0.1, port chosen by the system; resolves with its URL once it listens. */
export function startServe(db: string, threads: number): Promise<{ child: ChildProcess; url: string }> {
  const args = [
    HISTOSEEK,
    'serve',
    '--db',
    db,
    '--port',
    '0',
    '--threads',
    String(threads),
    '--rate',
    UNREACHED_RATE,
    '--burst',
    UNREACHED_RATE,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`histoseek serve exited with status ${code} before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const url = / at (http:\/\/\S+) /.exec(line)?.[1];
      if (url) resolve({ child, url });
    });
  });
}
