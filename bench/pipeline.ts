/**
 * Indexing-pipeline overhead: images/s of `index` (decode, embed, normalise, crash-safe append)
 * against the model's bare throughput on already-decoded tensors, same images, same model, same
 * batch size. Prints {"case": "pipeline", "overhead_pct": …}.
 *
 *   node --import tsx bench/pipeline.ts [--images 320] [--rounds 2]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { readCollection } from '../src/collections/read.js';
import { decodeBatch } from '../src/engine/embed-images.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { indexItems } from '../src/store/indexer.js';
import { FolderStore } from '../src/store/folder/folder-store.js';
import { modelIdentity } from '../src/api/models.js';
import { randomModel } from '../src/model/checkpoint.js';
import { sliceFirstAxis } from '../src/model/host-tensor.js';
import { renderPatch, TISSUE_CLASSES } from '../src/data/synthetic/index.js';
import { info, median, Results, significant } from './common.js';

const { values: opts } = parseArgs({
  options: {
    images: { type: 'string', default: '320' },
    rounds: { type: 'string', default: '2' },
    batch: { type: 'string', default: '16' },
  },
});
const IMAGES = Number(opts.images);
const ROUNDS = Number(opts.rounds);
const BATCH = Number(opts.batch);
const PATCH = 256;

async function writeImages(root: string): Promise<void> {
  for (let i = 0; i < IMAGES; i++) {
    const cls = TISSUE_CLASSES[i % TISSUE_CLASSES.length];
    await mkdir(path.join(root, cls), { recursive: true });
    const pixels = renderPatch(cls, PATCH, 100 + i);
    await sharp(pixels, { raw: { width: PATCH, height: PATCH, channels: 3 } })
      .png()
      .toFile(path.join(root, cls, `p${i}.png`));
  }
}

const root = await mkdtemp(path.join(os.tmpdir(), 'histoseek-pipeline-'));
try {
  info(`writing ${IMAGES} synthetic ${PATCH}-px PNG patches`);
  await writeImages(path.join(root, 'collection'));
  const collection = await readCollection(path.join(root, 'collection'), 'folder');
  const model = randomModel();
  const embedder = await OnnxEmbedder.create(model, { threads: 2 });
  const decoded = await decodeBatch(
    collection.items.map((i) => i.source),
    embedder.inputSize,
  );

  const bare = async () => {
    const start = performance.now();
    for (let i = 0; i < IMAGES; i += BATCH)
      await embedder.embed(sliceFirstAxis(decoded.input, i, Math.min(IMAGES, i + BATCH)));
    return (performance.now() - start) / 1000;
  };
  const pipeline = async (round: number) => {
    const store = FolderStore.openOrCreate(path.join(root, `db${round}`), modelIdentity(model));
    const start = performance.now();
    await indexItems(store, embedder, collection.items, { batchSize: BATCH });
    const seconds = (performance.now() - start) / 1000;
    await store.close();
    return seconds;
  };
  await bare(); // warm-up
  const bareSeconds: number[] = [];
  const pipelineSeconds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bareSeconds.push(await bare());
    pipelineSeconds.push(await pipeline(r));
    info(`round ${r + 1}: bare ${bareSeconds[r].toFixed(2)} s, pipeline ${pipelineSeconds[r].toFixed(2)} s`);
  }
  await embedder.release();
  const [b, p] = [median(bareSeconds), median(pipelineSeconds)];
  const results = new Results('pipeline');
  results.emit({
    case: 'pipeline',
    overhead_pct: significant(100 * (p / b - 1), 3),
    bare_images_per_s: significant(IMAGES / b),
    pipeline_images_per_s: significant(IMAGES / p),
    images: IMAGES,
    batch: BATCH,
    model: model.source,
    input_size: model.config.inputSize,
    threads: 2,
  });
  info(`wrote ${await results.save()}`);
} finally {
  await rm(root, { recursive: true, force: true });
}
