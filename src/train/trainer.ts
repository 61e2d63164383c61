/**
 * Runs a training config: stage after stage (each continuing from the previous one's weights with
 * its own loss head), epoch after epoch, with a cosine learning-rate schedule, validation, the best
 * and the last checkpoint, a JSONL log and a loss-curve PNG. After every epoch the whole state
 * (weights, both optimisers, the loss's W, the random generators, the schedule position) is saved
 * atomically, so `resume` continues a killed run exactly.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RetrievalMetrics } from '../eval/metrics.js';
import { loadCheckpoint, randomModel, saveCheckpoint, withTimmBackbone } from '../model/checkpoint.js';
import type { Model } from '../model/types.js';
import { embeddingSize, validateConfig, type ModelConfig } from '../model/config.js';
import type { HostTensor } from '../model/host-tensor.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { resolveBackbone } from '../weights/hub.js';
import { Random } from '../util/random.js';
import { AdamW, ADAMW_DEFAULTS } from './adamw.js';
import type { StageConfig, TrainConfig } from './config.js';
import { loadStageData, type StageData } from './data.js';
import { FeatureCache } from './feature-cache.js';
import { frozenPyramid, readTrainingEncoder, type TrainingEncoder } from './frozen-pyramid.js';
import { renderLossCurve, type CurvePoint } from './loss-curve.js';
import { NeckHead } from './neck-head.js';
import { TrainStep } from './step.js';
import { validate } from './validate.js';

export interface TrainEvents {
  /** A line for the user (stderr). */
  say(line: string): void;
  /** Progress of a long phase; `detail` carries loss, lr… */
  progress(phase: string, done: number, total: number, detail?: string): void;
}

interface RunState {
  configHash: string;
  stage: number;
  /** Epochs finished in `stage`. */
  epoch: number;
  globalStep: number;
  dataRng: { state: number; spare: number | null };
  dropoutRng: { state: number; spare: number | null };
  modelSteps: number;
  lossSteps: number;
  best: { eta_tot: number; stage: number; epoch: number } | null;
  weights: string;
  optimizer: string;
  /** SHA-256 of the encoder under the neck, when there is one: a resumed run must find the same file. */
  encoderSha256?: string;
}

const STATE = 'state.json';

export function configHash(config: TrainConfig): string {
  const { output: _o, threads: _t, ...rest } = config;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

function modelConfigOf(config: TrainConfig, encoder?: TrainingEncoder): ModelConfig {
  const { preset, neckChannels, neckLayers, gemP, inputSize } = config.model;
  const overEncoder = encoder
    ? { inputSize: encoder.spec.preprocessing.size, pyramidChannels: encoder.probe.pyramid.map((l) => l.channels) }
    : { inputSize };
  return validateConfig({ preset, neckChannels, neckLayers, gemP, ...overEncoder }, 'model');
}

/** The model training starts from: random or `model.weights`; over the config's encoder or a ConvNeXt V2 backbone. */
async function initialModel(config: TrainConfig, encoder?: TrainingEncoder): Promise<Model> {
  const modelConfig = modelConfigOf(config, encoder);
  const describe = (c: ModelConfig) =>
    `${c.pyramidChannels ? `a neck over an encoder's [${c.pyramidChannels.join(', ')}] pyramid` : `a ${c.preset} model`} with C=${c.neckChannels}, L=${c.neckLayers}`;
  let model = config.model.weights ? await loadCheckpoint(config.model.weights) : randomModel(modelConfig, config.seed);
  if (
    config.model.weights &&
    JSON.stringify({ ...model.config, inputSize: modelConfig.inputSize }) !== JSON.stringify(modelConfig)
  ) {
    throw new Error(
      `model.weights ${config.model.weights} is ${describe(model.config)}; the config asks for ${describe(modelConfig)}`,
    );
  }
  if (encoder && model.trainedOver && model.trainedOver.sha256 !== encoder.spec.sha256)
    throw new Error(
      `model.weights ${config.model.weights} was trained over ${model.trainedOver.path} (SHA-256 ${model.trainedOver.sha256.slice(0, 12)}…), not over ${encoder.spec.path}`,
    );
  const { trainedOver: _t, ...rest } = model;
  model = { ...rest, config: modelConfig, ...(encoder ? { encoder: encoder.spec } : {}) };
  return config.model.backbone ? withTimmBackbone(model, resolveBackbone(config.model.backbone)) : model;
}

/** Cosine annealing from lr to lrMin over `total` steps. */
export function cosineLr(stage: StageConfig, step: number, total: number): number {
  return (
    stage.lrMin +
    0.5 * (stage.lr - stage.lrMin) * (1 + Math.cos((Math.PI * Math.min(step, total)) / Math.max(total, 1)))
  );
}

function stepsPerEpoch(stage: StageConfig, data: StageData): number {
  return Math.floor(data.train.length / stage.batchSize);
}

function shuffle(n: number, random: Random): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export async function train(
  config: TrainConfig,
  events: TrainEvents,
  options: { resume: boolean; /** The config file, for errors. */ source?: string },
): Promise<{ best: string; last: string }> {
  const hash = configHash(config);
  // Every stage's data is read and checked before any work starts.
  const stages = await Promise.all(
    config.stages.map((s, i) => loadStageData(s, config.seed + i, `stages[${i}] (${s.name})`)),
  );
  const encoder = config.model.encoder
    ? await readTrainingEncoder(config.model.encoder, options.source ?? 'config', config.threads)
    : undefined;
  let model = await initialModel(config, encoder);
  await mkdir(join(config.output, 'checkpoints'), { recursive: true });
  const statePath = join(config.output, STATE);
  let state: RunState | null = null;
  if (existsSync(statePath)) {
    if (!options.resume)
      throw new Error(
        `${config.output} holds a training run already; pass --resume to continue it, or choose another output folder`,
      );
    state = JSON.parse(await readFile(statePath, 'utf8')) as RunState;
    if (state.configHash !== hash)
      throw new Error(
        `${config.output}: the run there was started with a different config; it cannot be resumed with this one`,
      );
    if (state.encoderSha256 !== encoder?.spec.sha256)
      throw new Error(
        `${config.output}: the run there was trained over another encoder file than ${encoder?.spec.path}; it cannot be resumed over this one`,
      );
    model = { ...model, weights: (await loadCheckpoint(join(config.output, state.weights))).weights };
    events.say(`resuming ${config.output} at stage ${state.stage + 1}, epoch ${state.epoch + 1}`);
  }
  const log = (record: object) => appendFile(join(config.output, 'log.jsonl'), `${JSON.stringify(record)}\n`);
  const curve: CurvePoint[] = [];
  const epochStarts: number[] = [];
  if (state && existsSync(join(config.output, 'log.jsonl'))) {
    for (const line of (await readFile(join(config.output, 'log.jsonl'), 'utf8')).split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as { type: string; step: number; loss: number };
      if (r.type === 'step' && r.step < state.globalStep) curve.push({ step: r.step, loss: r.loss });
    }
  }
  const dataRng = new Random(config.seed * 31 + 7);
  const dropoutRng = new Random(config.seed * 31 + 11);
  if (state) {
    dataRng.restore(state.dataRng);
    dropoutRng.restore(state.dropoutRng);
  }
  let globalStep = state?.globalStep ?? 0;
  let best = state?.best ?? null;
  const lastPath = join(config.output, 'last.safetensors');
  const bestPath = join(config.output, 'best.safetensors');

  for (let s = state?.stage ?? 0; s < config.stages.length; s++) {
    const stage = config.stages[s];
    const data = stages[s];
    const resumingHere = state !== null && state.stage === s;
    const firstEpoch = resumingHere ? state!.epoch : 0;
    if (firstEpoch >= stage.epochs) continue;
    events.say(
      `stage ${s + 1}/${config.stages.length} '${stage.name}': ${data.train.length} training and ${data.val.length} validation items, ${data.classes.length} classes`,
    );

    // Features of the frozen backbone or encoder, cached (built only where missing).
    const frozen = frozenPyramid(model, encoder);
    const cacheSpec = { config: model.config, featuresHash: frozen.featuresHash, seed: config.seed + s };
    const trainCache = new FeatureCache(
      FeatureCache.folderFor(config.cache, { ...cacheSpec, items: data.train, augment: stage.augment }),
      { ...cacheSpec, items: data.train, augment: stage.augment },
    );
    const valAugment = { ...stage.augment, views: 1 };
    const valCache = new FeatureCache(
      FeatureCache.folderFor(config.cache, { ...cacheSpec, items: data.val, augment: valAugment }),
      { ...cacheSpec, items: data.val, augment: valAugment },
    );
    const pyramid = await frozen.open(2);
    const what = encoder ? 'encoder' : 'backbone';
    await trainCache.build(pyramid, (done) => events.progress(`caching ${what} features`, done, trainCache.rows));
    if (data.val.length)
      await valCache.build(pyramid, (done) => events.progress('caching validation features', done, valCache.rows));
    await pyramid.release();

    // Model, loss head and optimisers for this stage.
    const neckHead = new NeckHead(model.config, model.weights);
    const arcface = {
      classes: data.classes.length,
      subCenters: stage.loss.subCenters,
      marginDegrees: stage.loss.marginDegrees,
      scale: stage.loss.scale,
    };
    const dim = embeddingSize(model.config);
    const wInit = new Random(config.seed * 97 + s).fillNormal(
      new Float32Array(dim * arcface.classes * arcface.subCenters),
    );
    const lossW = { shape: [dim, arcface.classes * arcface.subCenters], data: wInit };
    const modelOptimizer = new AdamW({ ...ADAMW_DEFAULTS, lr: stage.lr, weightDecay: stage.weightDecay });
    const lossOptimizer = new AdamW({ ...ADAMW_DEFAULTS, lr: stage.loss.lr, weightDecay: stage.weightDecay });
    if (resumingHere) {
      const saved = (await readSafetensors(join(config.output, state!.optimizer))).tensors;
      const pick = (prefix: string) =>
        new Map([...saved].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
      modelOptimizer.importState(pick('model/'), state!.modelSteps);
      lossOptimizer.importState(pick('loss/'), state!.lossSteps);
      lossW.data.set(saved.get('lossW')!.data);
    }
    const step = await TrainStep.create(
      neckHead,
      lossW,
      modelOptimizer,
      lossOptimizer,
      { arcface, clipNorm: stage.clipNorm, microBatch: config.microBatch },
      config.threads,
    );
    const perEpoch = stepsPerEpoch(stage, data);
    const totalSteps = perEpoch * stage.epochs;

    try {
      for (let epoch = firstEpoch; epoch < stage.epochs; epoch++) {
        epochStarts.push(globalStep);
        const order = shuffle(data.train.length, dataRng);
        const started = performance.now();
        let lossSum = 0;
        for (let b = 0; b < perEpoch; b++) {
          const pairs = order
            .slice(b * stage.batchSize, (b + 1) * stage.batchSize)
            .map((item) => ({ item, view: dataRng.int(trainCache.views) }));
          const lr = cosineLr(stage, epoch * perEpoch + b, totalSteps);
          const result = await step.run(
            trainCache.read(pairs),
            pairs.map((p) => data.trainLabels[p.item]),
            dropoutRng,
            lr,
            stage.loss.lr,
          );
          lossSum += result.loss;
          curve.push({ step: globalStep, loss: result.loss });
          await log({
            type: 'step',
            stage: s,
            epoch,
            step: globalStep,
            loss: result.loss,
            lr,
            grad_norm: result.gradNorm,
          });
          globalStep++;
          const rate = ((b + 1) * stage.batchSize) / ((performance.now() - started) / 1000);
          events.progress(
            `epoch ${epoch + 1}/${stage.epochs}`,
            b + 1,
            perEpoch,
            `loss ${result.loss.toFixed(3)} · lr ${lr.toExponential(2)} · ${rate.toFixed(1)} items/s`,
          );
        }
        const weights = neckHead.weights(model.weights);
        let metrics: RetrievalMetrics | null = null;
        if (data.val.length) {
          const names = (labels: number[]) => labels.map((l) => data.classes[l]);
          metrics = await validate(
            model.config,
            weights,
            trainCache,
            names(data.trainLabels),
            valCache,
            names(data.valLabels),
            2,
          );
        }
        const improved = !best || best.stage < s || (metrics !== null && metrics.eta_tot > best.eta_tot);
        const summary = {
          type: 'epoch',
          stage: s,
          epoch,
          step: globalStep,
          mean_loss: lossSum / perEpoch,
          seconds: (performance.now() - started) / 1000,
          ...(metrics ? pickMetrics(metrics) : {}),
        };
        await log(summary);
        events.say(
          `stage ${s + 1} epoch ${epoch + 1}: mean loss ${summary.mean_loss.toFixed(4)}${metrics ? ` · validation η_tot ${(100 * metrics.eta_tot).toFixed(2)}% η_p ${(100 * metrics.eta_p).toFixed(2)}% MV@5 ${(100 * metrics.mv_at_5).toFixed(2)}%` : ''}`,
        );

        // Checkpoint: files named by (stage, epoch) first, then the state that points to them.
        const tag = `s${s}-e${epoch + 1}`;
        const weightsFile = `checkpoints/${tag}.safetensors`;
        const optimFile = `checkpoints/${tag}.optim.safetensors`;
        const trained = { config: model.config, weights, encoder: model.encoder };
        await saveCheckpoint(join(config.output, weightsFile), trained);
        const optim = new Map<string, HostTensor>();
        for (const [k, v] of modelOptimizer.exportState(neckHead.shapes())) optim.set(`model/${k}`, v);
        for (const [k, v] of lossOptimizer.exportState(new Map([['W', lossW.shape]]))) optim.set(`loss/${k}`, v);
        optim.set('lossW', lossW);
        await writeSafetensors(join(config.output, optimFile), optim);
        if (improved) best = { eta_tot: metrics?.eta_tot ?? 0, stage: s, epoch: epoch + 1 };
        const previous = state;
        state = {
          configHash: hash,
          stage: s,
          epoch: epoch + 1,
          globalStep,
          dataRng: dataRng.snapshot(),
          dropoutRng: dropoutRng.snapshot(),
          modelSteps: modelOptimizer.step,
          lossSteps: lossOptimizer.step,
          best,
          weights: weightsFile,
          optimizer: optimFile,
          ...(encoder ? { encoderSha256: encoder.spec.sha256 } : {}),
        };
        await saveCheckpoint(lastPath, trained);
        if (improved) await saveCheckpoint(bestPath, trained);
        await writeFileAtomic(statePath, JSON.stringify(state, null, 1));
        if (previous && previous.weights !== weightsFile) {
          await rm(join(config.output, previous.weights), { force: true });
          await rm(join(config.output, previous.optimizer), { force: true });
        }
        await writeFileAtomic(
          join(config.output, 'loss-curve.png'),
          await renderLossCurve(curve, epochStarts, `training loss — ${config.stages.map((x) => x.name).join(' → ')}`),
        );
      }
      model = { ...model, weights: neckHead.weights(model.weights) };
    } finally {
      await step.close();
      trainCache.close();
      valCache.close();
    }
  }
  return { best: bestPath, last: lastPath };
}

function pickMetrics(m: RetrievalMetrics) {
  return {
    eta_p: m.eta_p,
    eta_w: m.eta_w,
    eta_tot: m.eta_tot,
    eta_w_precision: m.eta_w_precision,
    recall_at_1: m.recall_at_1,
    recall_at_5: m.recall_at_5,
    map_at_10: m.map_at_10,
    mv_at_5: m.mv_at_5,
  };
}
