/**
 * Does training help? On a held-out synthetic collection (seed 1: the demo's, never seen in
 * training), Kimia protocol (test patches against training patches), compares
 *   (a) the untrained model (the default's architecture and backbone, neck and head as initialised),
 *   (b) GeM (p = 3) over the last backbone stage alone,
 *   (c) the trained default model,
 *   (d) the same at int8 (`--precision int8`, issue #15).
 * Prints {"case": "learning", "untrained": {"eta_tot", "mv_at_5", …}, "gem_backbone": {…}, "trained": {…},
 * "trained_int8": {…}, "int8_eta_tot_points": int8's η_tot minus fp32's, in points}.
 *
 *   node --import tsx bench/learning.ts [--weights FILE]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readCollection } from '../src/collections/read.js';
import { ItemLoader } from '../src/collections/load.js';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import { embedAll } from '../src/engine/embed-images.js';
import type { Embedder } from '../src/engine/embedder.js';
import { buildOnnxGraph } from '../src/engine/onnx-graph.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { scoreRetrieval } from '../src/eval/in-memory.js';
import type { RetrievalMetrics } from '../src/eval/metrics.js';
import { normaliseRows } from '../src/store/vectors/normalise.js';
import { loadCheckpoint, randomModel } from '../src/model/checkpoint.js';
import type { Model } from '../src/model/types.js';
import { BACKBONE_PRESETS } from '../src/model/config.js';
import type { HostTensor } from '../src/model/host-tensor.js';
import { backbone } from '../src/model/lgffem.js';
import { info, Results, significant } from './common.js';

const { values: opts } = parseArgs({
  options: { weights: { type: 'string' }, 'init-seed': { type: 'string', default: '2' } },
});

/** GeM over the last backbone stage, as an Embedder. */
class GemBackbone implements Embedder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputSize: number,
    readonly dimensions: number,
  ) {}

  static async create(model: Model, p = 3): Promise<GemBackbone> {
    const weights = new Map<string, HostTensor>([
      ...model.weights,
      ['baseline.gem.p', { shape: [1], data: Float32Array.of(p) }],
    ]);
    const bytes = buildOnnxGraph(
      weights,
      [{ name: 'input', layout: 'NCHW' }],
      (ops, [x]) => new Map([['embedding', ops.gem(backbone(ops, x, model.config)[3], 'baseline.gem.p')]]),
    );
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2 });
    return new GemBackbone(session, model.config.inputSize, BACKBONE_PRESETS[model.config.preset].dims[3]);
  }

  async run(input: HostTensor): Promise<Map<string, HostTensor>> {
    const out = (await this.session.run({ input: new ort.Tensor('float32', input.data, input.shape) })).embedding;
    return new Map([['embedding', { shape: out.dims.map(Number), data: out.data as Float32Array }]]);
  }
}

async function evaluate(embedder: Embedder, root: string): Promise<RetrievalMetrics> {
  const loader = new ItemLoader();
  const embed = async (role: 'index' | 'queries') => {
    const items = (await readCollection(root, 'kimia', role)).items;
    const out = await embedAll(
      embedder,
      items.map((i) => i.source),
      32,
      (s, size) => loader.load(s, size),
    );
    return { vectors: normaliseRows(out.raw, embedder.dimensions), labels: items.map((i) => i.label) };
  };
  const [index, queries] = [await embed('index'), await embed('queries')];
  await loader.close();
  return scoreRetrieval(embedder.dimensions, index.vectors, index.labels, queries.vectors, queries.labels);
}

const pick = (m: RetrievalMetrics) =>
  Object.fromEntries(
    ['eta_p', 'eta_w', 'eta_tot', 'recall_at_1', 'recall_at_5', 'map_at_10', 'mv_at_5'].map((k) => [
      k,
      significant(m[k as keyof RetrievalMetrics] as number),
    ]),
  );

const dir = await mkdtemp(path.join(os.tmpdir(), 'histoseek-learning-'));
try {
  info('generating the held-out synthetic collection (seed 1)');
  await writeKimiaCollection(dir, { seed: 1, slides: 24, trainPerSlide: 50, testPerSlide: 20 });
  const trained = await loadCheckpoint(opts.weights);
  const untrained = randomModel(trained.config, Number(opts['init-seed']));
  const sameBackbone = [...trained.weights]
    .filter(([n]) => n.startsWith('backbone.'))
    .every(([n, t]) =>
      t.data.every((v, i) => Math.abs(v - untrained.weights.get(n)!.data[i]) <= 1e-3 * Math.max(1, Math.abs(v))),
    );
  if (!sameBackbone)
    info(
      "note: the trained model's backbone differs from the seeded random one; (a) and (b) use the trained model's backbone",
    );
  const base: Model = sameBackbone
    ? untrained
    : {
        ...untrained,
        weights: new Map(
          [...untrained.weights].map(([n, t]) => [n, n.startsWith('backbone.') ? trained.weights.get(n)! : t]),
        ),
      };
  const results = new Results('learning');
  const scores: Record<string, RetrievalMetrics> = {};
  for (const [name, make] of [
    ['untrained', () => OnnxEmbedder.create(base)],
    ['gem_backbone', () => GemBackbone.create(trained)],
    ['trained', () => OnnxEmbedder.create(trained)],
    ['trained_int8', () => OnnxEmbedder.create({ ...trained, precision: 'int8' })],
  ] as const) {
    info(`evaluating ${name}`);
    scores[name] = await evaluate(await make(), dir);
  }
  results.emit({
    case: 'learning',
    model: trained.source,
    held_out: 'synthetic seed 1, 24 slides, 1200 index / 480 query patches, Kimia protocol',
    untrained: pick(scores.untrained),
    gem_backbone: pick(scores.gem_backbone),
    trained: pick(scores.trained),
    trained_int8: pick(scores.trained_int8),
    int8_eta_tot_points: significant(100 * (scores.trained_int8.eta_tot - scores.trained.eta_tot)),
  });
  info(`wrote ${await results.save()}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
