/**
 * `histoseek train` over a user's ONNX encoder (issue #26 item 3): the neck and head learn over the
 * encoder's frozen pyramid on synthetic tissue patches; the checkpoint holds the neck and head only
 * and names the encoder by its SHA-256; reloaded, it reproduces the run's validation exactly, and the
 * library, opening it over the encoder it names, gives the descriptors the cached features give.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/model/encoder.js';
import { resolveModel } from '../src/api/models.js';
import { trainCommand } from '../src/cli/train-cmd.js';
import { loadRgb, normalizeInto } from '../src/data/image.js';
import { writePatchCollection } from '../src/data/synthetic/index.js';
import { createEmbedder } from '../src/engine/embedders.js';
import { NeckHeadSession } from '../src/engine/onnx-parts.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { parameterSpecs } from '../src/model/params.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { readTrainConfig } from '../src/train/config.js';
import { loadStageData } from '../src/train/data.js';
import { FeatureCache } from '../src/train/feature-cache.js';
import { frozenPyramid, readTrainingEncoder } from '../src/train/frozen-pyramid.js';
import { train } from '../src/train/trainer.js';
import { validate } from '../src/train/validate.js';
import { ROOT, temporaryFolder } from './helpers.js';
import { floatModel, WIDTHS } from './onnx-encoder-models.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

process.env.HISTOSEEK_CACHE_DIR = await temporaryFolder('histoseek-train-encoder-cache-');
const dir = await temporaryFolder('histoseek-train-encoder-');
const collection = join(dir, 'tissue');
await writePatchCollection(collection, { seed: 4, perClass: 8, minSize: 64, maxSize: 96 });
// Strides 2, 4, 8, 16 and 32, with an open input side: the neck takes the last four.
const encoderPath = join(dir, 'encoder.onnx');
const encoderBytes = floatModel();
await writeFile(encoderPath, encoderBytes);
const SIZE = 64;
const quiet = { say: () => {}, progress: () => {} };

function config(output: string, model = `encoder: elsewhere.onnx, input_size: ${SIZE}`): string {
  return `seed: 1
output: ${output}
micro_batch: 4
model: { ${model}, neck_channels: 8, neck_layers: 1 }
stages:
  - name: tissue
    data: ${collection}
    layout: folder
    val_fraction: 0.25
    epochs: 12
    batch_size: 12
    lr: 0.01
    loss: { scale: 16, lr: 0.01 }
    augment: { views: 2, gaussian_blur: 0, median_blur: 0 }
`;
}

/** Cosine of two rows of `dim` values. */
function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
  return ab / Math.sqrt(aa * bb);
}

test(
  'train --encoder fits neck and head over an ONNX encoder; the checkpoint names it and reproduces the run',
  { timeout: TIMEOUT },
  async () => {
    const file = join(dir, 'train.yaml');
    await writeFile(file, config(join(dir, 'run')));
    // The config's encoder path does not exist: --encoder replaces it.
    assert.equal(await trainCommand.run(['--config', file, '--encoder', encoderPath]), 0);

    const log = (await readFile(join(dir, 'run', 'log.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, number | string>);
    const epochs = log.filter((r) => r.type === 'epoch');
    assert.equal(epochs.length, 12);
    const loss = epochs.map((e) => e.mean_loss as number);
    const lastThree = (loss[9] + loss[10] + loss[11]) / 3;
    assert.ok(lastThree < 0.85 * loss[0], `mean loss ${loss[0]} in the first epoch, ${lastThree} in the last three`);

    // Only the neck and head, over the encoder's four levels (strides 4…32), and the file's SHA-256.
    const saved = await readSafetensors(join(dir, 'run', 'last.safetensors'));
    const sha256 = createHash('sha256').update(encoderBytes).digest('hex');
    assert.equal(saved.metadata.encoder_sha256, sha256);
    assert.equal(saved.metadata.encoder_path, encoderPath);
    assert.equal(saved.metadata.pyramid_channels, WIDTHS.slice(1).join(','));
    const names = [...saved.tensors.keys()];
    assert.ok(names.length > 0 && names.every((n) => n.startsWith('neck.') || n.startsWith('head.')), names.join());
    const model = await loadCheckpoint(join(dir, 'run', 'last.safetensors'));
    assert.deepEqual(model.trainedOver, {
      path: encoderPath,
      sha256,
      preprocessing: { mean: IMAGENET_MEAN, std: IMAGENET_STD, channels: 'RGB' },
    });
    assert.equal(names.length, parameterSpecs(model.config).size);

    // Reloaded, the checkpoint scores the run's cached validation features exactly as its last epoch did.
    const trainConfig = await readTrainConfig(file, { encoder: encoderPath });
    const stage = trainConfig.stages[0];
    const data = await loadStageData(stage, trainConfig.seed, 'stage');
    const encoder = await readTrainingEncoder(trainConfig.model.encoder!, file, 2);
    const featuresHash = frozenPyramid({ ...model, encoder: encoder.spec }, encoder).featuresHash;
    const cache = (items: typeof data.train, views: number) => {
      const spec = {
        config: model.config,
        featuresHash,
        seed: trainConfig.seed,
        items,
        augment: { ...stage.augment, views },
      };
      return new FeatureCache(FeatureCache.folderFor(trainConfig.cache, spec), spec);
    };
    const [trainCache, valCache] = [cache(data.train, stage.augment.views), cache(data.val, 1)];
    const classNames = (labels: number[]) => labels.map((l) => data.classes[l]);
    const metrics = await validate(
      model.config,
      model.weights,
      trainCache,
      classNames(data.trainLabels),
      valCache,
      classNames(data.valLabels),
      2,
    );
    for (const key of ['eta_p', 'eta_w', 'map_at_10', 'mv_at_5'] as const)
      assert.equal(metrics[key], epochs[11][key], `${key}: ${metrics[key]} reloaded, ${epochs[11][key]} in the run`);

    // The library opens the checkpoint over the encoder it recorded: its descriptors of the validation
    // images, the encoder run afresh, match the neck's on the run's cached (float16) features.
    const embedder = await createEmbedder(await resolveModel({ weights: join(dir, 'run', 'last.safetensors') }));
    const n = data.val.length;
    const plane = 3 * SIZE * SIZE;
    const input = new Float32Array(n * plane);
    for (let i = 0; i < n; i++) normalizeInto((await loadRgb(data.val[i].source, SIZE)).pixels, SIZE, input, i * plane);
    const fresh = await embedder.embed({ shape: [n, 3, SIZE, SIZE], data: input });
    const neckHead = await NeckHeadSession.create(model.config, model.weights);
    const cached = await neckHead.run(valCache.read(data.val.map((_, item) => ({ item, view: 0 }))));
    const dim = fresh.shape[1];
    assert.deepEqual(fresh.shape, [n, 4 * model.config.neckChannels]);
    for (let i = 0; i < n; i++) {
      const c = cosine(fresh.data.subarray(i * dim, (i + 1) * dim), cached.data.subarray(i * dim, (i + 1) * dim));
      assert.ok(c > 0.999, `image ${i}: cosine ${c}`);
    }
    trainCache.close();
    valCache.close();
    await Promise.all([embedder.release(), neckHead.release()]);
  },
);

test(
  'a config over an encoder refuses ConvNeXt settings, a size the encoder does not take, and another encoder on resume',
  { timeout: TIMEOUT },
  async () => {
    const file = join(dir, 'bad.yaml');
    const refused: [string, RegExp][] = [
      [
        `encoder: ${encoderPath}, preset: atto`,
        /model\.preset: a ConvNeXt V2 preset does not apply with model\.encoder/,
      ],
      [`encoder: ${encoderPath}, backbone: convnextv2_atto`, /model\.backbone: a ConvNeXt V2 backbone does not apply/],
      [
        `preset: atto, encoder_pyramid: [a, b, c, d]`,
        /model\.encoder_pyramid: describes an encoder, but model\.encoder is not given/,
      ],
    ];
    for (const [model, error] of refused) {
      await writeFile(file, config(join(dir, 'bad'), model));
      await assert.rejects(
        readTrainConfig(file),
        (err: Error) => error.test(err.message) && err.message.includes(file),
      );
    }

    // The MobileNetV2 config finds the shared model beside a clone; --encoder (relative to the working directory) replaces it.
    const shipped = join(ROOT, 'configs', 'mobilenetv2-neck.yaml');
    assert.equal(
      (await readTrainConfig(shipped)).model.encoder?.path,
      resolve(ROOT, '../shared/models/mobilenetv2-12-int8.onnx'),
    );
    assert.equal((await readTrainConfig(shipped, { encoder: 'mine.onnx' })).model.encoder?.path, resolve('mine.onnx'));

    // A graph that takes 64×64 images only, asked for 128.
    const fixed = join(dir, 'fixed.onnx');
    await writeFile(fixed, floatModel({ side: SIZE }));
    await writeFile(file, config(join(dir, 'bad'), `encoder: ${fixed}, input_size: 128`));
    await assert.rejects(
      train(await readTrainConfig(file), quiet, { resume: false, source: file }),
      new RegExp(`bad\\.yaml: model\\.input_size is 128, but ${fixed} takes 64×64 images`),
    );
    await writeFile(file, config(join(dir, 'bad'), `encoder: ${join(dir, 'absent.onnx')}`));
    await assert.rejects(
      train(await readTrainConfig(file), quiet, { resume: false, source: file }),
      /bad\.yaml: model\.encoder: .*absent\.onnx/,
    );

    // The run above, resumed with another file where its encoder was.
    await writeFile(encoderPath, floatModel({ opset: 11 }));
    const resumed = await readTrainConfig(join(dir, 'train.yaml'), { encoder: encoderPath });
    await assert.rejects(
      train(resumed, quiet, { resume: true, source: 'train.yaml' }),
      /run there was trained over another encoder file than .*encoder\.onnx; it cannot be resumed over this one/,
    );
  },
);
