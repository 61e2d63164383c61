/**
 * onnxruntime's optimised model, cached on disk: building the graph and optimising it costs every
 * command more than twice what loading the optimised file does, and loads the graph builder's
 * modules. One file per graph (a model at an input size, say, or exact search's product at a width
 * and precision) and version of the code that builds it, beside a JSON fingerprint of what made it —
 * the onnxruntime version, that code, the CPU (the optimised graph holds kernels chosen for it). A
 * file whose fingerprint differs, or that onnxruntime cannot load, is rebuilt with a note to the
 * caller's logger (stderr by default); a cache folder that cannot be written leaves the command
 * running uncached, with a warning.
 *
 * The folder: $HISTOSEEK_CACHE_DIR, else $XDG_CACHE_HOME/histoseek, else ~/.cache/histoseek
 * (`onnx/` inside it); HISTOSEEK_CACHE_DIR=off turns the cache off.
 */
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, homedir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { STDERR_LOGGER, type Logger } from '../util/logger.js';
import type { SerializedModel } from './onnx-builder.js';

/** What the cached file holds, as its file name: the model's hash, input size and graph, say. */
export interface CachedGraph {
  key: string;
}

interface Fingerprint {
  onnxruntime: string;
  builder: string;
  cpu: string;
}

/** The cache folder, or null when the cache is turned off. */
export function sessionCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.HISTOSEEK_CACHE_DIR === 'off') return null;
  const root = env.HISTOSEEK_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'histoseek');
  return join(root, 'onnx');
}

let builderHash: string | undefined;

/** A hash of the code that builds and names the graph (this folder and the model's): any change to it makes new files. */
function builderFingerprint(): string {
  if (builderHash) return builderHash;
  const here = dirname(fileURLToPath(import.meta.url));
  const extension = extname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256');
  for (const dir of [here, join(here, '..', 'model')]) {
    for (const name of readdirSync(dir)
      .filter((n) => n.endsWith(extension))
      .sort())
      hash.update(name).update(readFileSync(join(dir, name)));
  }
  return (builderHash = hash.digest('hex').slice(0, 16));
}

function cpuFingerprint(): string {
  let flags = '';
  try {
    flags = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    // Not Linux: the model name alone.
  }
  return createHash('sha256')
    .update(`${cpus()[0]?.model ?? ''}\n${flags}`)
    .digest('hex')
    .slice(0, 16);
}

function fingerprint(): Fingerprint {
  return { onnxruntime: ort.env.versions.common ?? 'unknown', builder: builderFingerprint(), cpu: cpuFingerprint() };
}

/** Why a cached file was made for something else, or null when it fits. */
function mismatch(found: Partial<Fingerprint>, wanted: Fingerprint): string | null {
  if (found.onnxruntime !== wanted.onnxruntime)
    return `made by onnxruntime ${found.onnxruntime ?? 'unknown'}, this is ${wanted.onnxruntime}`;
  if (found.builder !== wanted.builder) return 'made by another version of histoseek';
  if (found.cpu !== wanted.cpu) return 'made on another CPU';
  return null;
}

/** A graph too large for one protobuf message (2 GiB) keeps its weights outside it: `externalData` names them. */
export type BuiltGraph = Uint8Array | SerializedModel;

/** A session of a built graph, its external weights (if any) handed over in memory. */
async function sessionOf(
  built: BuiltGraph,
  options: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  if (built instanceof Uint8Array) return ort.InferenceSession.create(built, options);
  // onnxruntime-node reads `externalData` (typed for the web build) as the files the graph's initializers name.
  return ort.InferenceSession.create(built.model, { ...options, externalData: built.externalData } as typeof options);
}

/**
 * An inference session for the graph `build()` makes, from the cache when it holds that graph
 * optimised for this machine; otherwise built, optimised and (where the folder can be written)
 * cached for the next call. A graph with external weights is cached as the .onnx file and a
 * `.weights` file beside it, which onnxruntime finds by the name the optimised graph records.
 * Rebuilds are noted (info) and an unwritable cache warned of (warn) to `logger`.
 */
export async function cachedSession(
  what: CachedGraph,
  build: () => Promise<BuiltGraph>,
  options: ort.InferenceSession.SessionOptions,
  dir = sessionCacheDir(),
  logger: Logger = STDERR_LOGGER,
): Promise<ort.InferenceSession> {
  const note = (message: string) => logger.info(`histoseek: note: ${message}`);
  const unwritable = (why: string) =>
    logger.warn(`histoseek: note: the model cache ${dir} cannot be written (${why}); running without it`);
  if (!dir) return sessionOf(await build(), options);
  const wanted = fingerprint();
  // The code's hash in the name: the compiled command and the tests (run from source) keep a file each.
  const stem = join(dir, `${what.key}-${wanted.builder.slice(0, 8)}`);
  const file = `${stem}.onnx`;
  const stamp = `${stem}.json`;
  if (existsSync(file) && existsSync(stamp)) {
    let found: Partial<Fingerprint> = {};
    try {
      found = JSON.parse(readFileSync(stamp, 'utf8')) as Partial<Fingerprint>;
    } catch {
      // An unreadable stamp is a mismatch like any other.
    }
    const why = mismatch(found, wanted);
    if (why === null) {
      try {
        return await ort.InferenceSession.create(file, { ...options, graphOptimizationLevel: 'disabled' });
      } catch (err) {
        note(
          `${file}: the cached model cannot be loaded (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); rebuilding it`,
        );
      }
    } else note(`${file}: the cached model was ${why}; rebuilding it`);
  }
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    unwritable((err as NodeJS.ErrnoException).code ?? String(err));
    return sessionOf(await build(), options);
  }
  // Written under temporary names and renamed: a crash leaves the old pair or no stamp, never a half file in use.
  // External weights are written under their final name (the graph records it); the stamp, written
  // last and removed first, says whether they belong to the graph beside them.
  const temporary = `${stem}.${process.pid}.tmp`;
  rmSync(stamp, { force: true });
  const built = await build();
  const saving = built instanceof Uint8Array ? options : withExternalWeights(options, basename(`${stem}.weights`));
  // onnxruntime warns that the optimised file suits only this machine: the CPU is in the fingerprint.
  const session = await sessionOf(built, {
    ...saving,
    optimizedModelFilePath: `${temporary}.onnx`,
    logSeverityLevel: 3,
  });
  try {
    renameSync(`${temporary}.onnx`, file);
    writeFileSync(`${temporary}.json`, JSON.stringify(wanted));
    renameSync(`${temporary}.json`, stamp);
  } catch (err) {
    rmSync(`${temporary}.onnx`, { force: true });
    rmSync(`${temporary}.json`, { force: true });
    rmSync(`${stem}.weights`, { force: true });
    unwritable(err instanceof Error ? err.message.split('\n')[0] : String(err));
  }
  return session;
}

/** `options` that also make onnxruntime save an optimised graph's large initializers to `file` beside it. */
function withExternalWeights(
  options: ort.InferenceSession.SessionOptions,
  file: string,
): ort.InferenceSession.SessionOptions {
  const extra = (options.extra ?? {}) as { session?: Record<string, unknown> };
  return {
    ...options,
    extra: {
      ...extra,
      session: {
        ...extra.session,
        optimized_model_external_initializers_file_name: file,
        optimized_model_external_initializers_min_size_in_bytes: '1024',
      },
    },
  };
}
