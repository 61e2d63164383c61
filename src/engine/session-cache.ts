/**
 * onnxruntime's optimised model, cached on disk: building the graph and optimising it costs every
 * command ~0.5 s for the default model (measured: build 0.16 s + session 0.41 s, against 0.25 s
 * to load the optimised file), and loads the graph builder's modules. One file per graph (a
 * model at an input size, say, or exact search's product at a width and precision) and version of
 * the code that builds it, beside a JSON fingerprint of what made it — the onnxruntime version, that
 * code, the CPU (the optimised graph holds kernels chosen for it). A file whose fingerprint differs, or that
 * onnxruntime cannot load, is rebuilt with a note on stderr; a cache folder that cannot be written
 * leaves the command running uncached, with a note.
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
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

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

const note = (message: string) => process.stderr.write(`histoseek: note: ${message}\n`);

/**
 * An inference session for the graph `build()` makes, from the cache when it holds that graph
 * optimised for this machine; otherwise built, optimised and (where the folder can be written)
 * cached for the next call.
 */
export async function cachedSession(
  what: CachedGraph,
  build: () => Promise<Uint8Array>,
  options: ort.InferenceSession.SessionOptions,
  dir = sessionCacheDir(),
): Promise<ort.InferenceSession> {
  if (!dir) return ort.InferenceSession.create(await build(), options);
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
    note(
      `the model cache ${dir} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)}); running without it`,
    );
    return ort.InferenceSession.create(await build(), options);
  }
  // Written under temporary names and renamed: a crash leaves the old pair or no stamp, never a half file in use.
  const temporary = `${stem}.${process.pid}.tmp`;
  // onnxruntime warns that the optimised file suits only this machine: the CPU is in the fingerprint.
  const session = await ort.InferenceSession.create(await build(), {
    ...options,
    optimizedModelFilePath: `${temporary}.onnx`,
    logSeverityLevel: 3,
  });
  try {
    rmSync(stamp, { force: true });
    renameSync(`${temporary}.onnx`, file);
    writeFileSync(`${temporary}.json`, JSON.stringify(wanted));
    renameSync(`${temporary}.json`, stamp);
  } catch (err) {
    rmSync(`${temporary}.onnx`, { force: true });
    rmSync(`${temporary}.json`, { force: true });
    note(
      `the model cache ${dir} cannot be written (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); running without it`,
    );
  }
  return session;
}
