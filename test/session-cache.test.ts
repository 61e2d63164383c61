/**
 * The optimised-model cache: a second session loads the cached file and embeds exactly as an
 * uncached one; a corrupt file, one made by another onnxruntime, and a folder that cannot be
 * written are each handled with a note on stderr.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildVitOnnxModel } from '../src/engine/onnx-graph.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { cpuSessionOptions } from '../src/engine/ort-options.js';
import { cachedSession } from '../src/engine/session-cache.js';
import { VIT_ARCHS } from '../src/model/vit-config.js';
import { randomVitWeights } from '../src/model/vit-weights.js';
import { randomModel } from '../src/model/checkpoint.js';
import { Random } from '../src/util/random.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

/** mount and umount of a small tmpfs, bounded like every child. */
const MOUNT_LIMIT = { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' } as const;
const MODEL = randomModel({ preset: 'test', neckChannels: 8, neckLayers: 1, gemP: 4.6, inputSize: 64 }, 11);
const INPUT = { shape: [2, 3, 64, 64], data: new Random(3).fillNormal(new Float32Array(2 * 3 * 64 * 64)) };

/** Embeds INPUT with the cache in `dir` ('off': none); returns the descriptors and what was noted on stderr. */
async function embedWith(dir: string): Promise<{ descriptors: Float32Array; notes: string }> {
  const previous = process.env.HISTOSEEK_CACHE_DIR;
  process.env.HISTOSEEK_CACHE_DIR = dir;
  const write = process.stderr.write.bind(process.stderr);
  let notes = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    notes += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const embedder = await OnnxEmbedder.create(MODEL, { threads: 1 });
    try {
      return { descriptors: (await embedder.embed(INPUT)).data as Float32Array, notes };
    } finally {
      await embedder.release();
    }
  } finally {
    process.stderr.write = write;
    if (previous === undefined) delete process.env.HISTOSEEK_CACHE_DIR;
    else process.env.HISTOSEEK_CACHE_DIR = previous;
  }
}

test(
  'the second session loads the cached model and embeds exactly as an uncached one',
  { timeout: TIMEOUT },
  async () => {
    const root = await temporaryFolder('histoseek-cache-');
    const uncached = await embedWith('off');
    const first = await embedWith(root);
    assert.equal(first.notes, '');
    const dir = join(root, 'onnx');
    const files = readdirSync(dir).sort();
    assert.equal(files.length, 2, files.join(', '));
    const [stamp, model] = files;
    assert.match(stamp, /^[0-9a-f]{24}-64-embed-[0-9a-f]{8}\.json$/);
    assert.match(model, /^[0-9a-f]{24}-64-embed-[0-9a-f]{8}\.onnx$/);
    const fingerprint = JSON.parse(readFileSync(join(dir, stamp), 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(fingerprint).sort(), ['builder', 'cpu', 'onnxruntime']);
    const written = statSync(join(dir, model)).mtimeMs;

    const second = await embedWith(root);
    assert.equal(second.notes, '');
    assert.equal(statSync(join(dir, model)).mtimeMs, written, 'loaded, not written again');
    assert.equal(uncached.descriptors.length, 2 * 4 * 8);
    for (const run of [first, second]) {
      let worst = 0;
      run.descriptors.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - uncached.descriptors[i]))));
      assert.ok(worst < 1e-5, `largest difference ${worst}`);
    }

    // A corrupt file: rebuilt, with a note.
    writeFileSync(join(dir, model), 'not an onnx model');
    const afterCorrupt = await embedWith(root);
    assert.match(
      afterCorrupt.notes,
      /histoseek: note: .*-64-embed-[0-9a-f]{8}\.onnx: the cached model cannot be loaded \(.*\); rebuilding it/,
    );
    assert.ok(statSync(join(dir, model)).size > 1000);
    assert.deepEqual(afterCorrupt.descriptors, second.descriptors);
    assert.equal((await embedWith(root)).notes, '', 'the rebuilt file is used');

    // Made by another onnxruntime: rebuilt, with a note, and the stamp names this version.
    writeFileSync(join(dir, stamp), JSON.stringify({ ...fingerprint, onnxruntime: '1.0.0' }));
    const afterStale = await embedWith(root);
    assert.match(
      afterStale.notes,
      /the cached model was made by onnxruntime 1\.0\.0, this is \d+\.\d+\.\d+; rebuilding it/,
    );
    assert.deepEqual(JSON.parse(readFileSync(join(dir, stamp), 'utf8')), fingerprint);
    assert.deepEqual(afterStale.descriptors, second.descriptors);
  },
);

test('a cache folder that cannot be written: the model runs uncached, with a note', { timeout: TIMEOUT }, async (t) => {
  const root = await temporaryFolder('histoseek-cache-ro-');
  const dir = join(root, 'onnx');
  mkdirSync(dir);
  if (process.getuid?.() === 0) {
    // Root writes through permission bits: a read-only mount is what stops it.
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', dir], MOUNT_LIMIT);
    if (mounted.status !== 0) return t.skip(`cannot mount a read-only tmpfs: ${mounted.stderr}`);
    t.after(() => spawnSync('umount', [dir], MOUNT_LIMIT));
  } else chmodSync(dir, 0o555);
  const uncached = await embedWith('off');
  const run = await embedWith(root);
  assert.match(
    run.notes,
    /histoseek: note: the model cache .*onnx cannot be written \((EROFS|EACCES)\); running without it/,
  );
  assert.deepEqual(run.descriptors, uncached.descriptors);
  assert.deepEqual(readdirSync(dir), []);
});

test(
  'a graph with external weights is cached as the graph and a .weights file, and reloads to the same descriptors',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('histoseek-cache-external-', t);
    const arch = {
      ...VIT_ARCHS['vit-b16'],
      embedDim: 64,
      heads: 2,
      depth: 1,
      mlpHidden: 128,
      posGrid: 4,
      imageSize: 64,
    };
    const weights = randomVitWeights(arch, 5);
    const input = { shape: [2, 3, 64, 64], data: new Random(9).fillNormal(new Float32Array(2 * 3 * 64 * 64)) };
    const run = async (session: ort.InferenceSession) => {
      const out = await session.run({ input: new ort.Tensor('float32', input.data, input.shape) });
      await session.release();
      return out.embedding.data as Float32Array;
    };
    const inline = await run(await ort.InferenceSession.create(buildVitOnnxModel(arch, weights).model));
    let builds = 0;
    const build = async () => {
      builds++;
      return buildVitOnnxModel(arch, weights, { externalFrom: 1024 });
    };
    const first = await run(await cachedSession({ key: 'vit-external' }, build, cpuSessionOptions(1), dir));
    const files = readdirSync(dir).sort();
    assert.ok(
      files.some((f) => f.endsWith('.weights')),
      `weights beside the graph: ${files.join(', ')}`,
    );
    const graphBytes = statSync(
      join(
        dir,
        files.find((f) => f.endsWith('.onnx'))!,
      ),
    ).size;
    const weightBytes = statSync(
      join(
        dir,
        files.find((f) => f.endsWith('.weights'))!,
      ),
    ).size;
    assert.ok(weightBytes > 10 * graphBytes, `the weights (${weightBytes} B) are outside the graph (${graphBytes} B)`);
    const second = await run(await cachedSession({ key: 'vit-external' }, build, cpuSessionOptions(1), dir));
    assert.equal(builds, 1, 'the second session came from the cache');
    assert.deepEqual(first, inline);
    assert.deepEqual(second, inline);
  },
);
