/**
 * Calibration of the int8 model (issue #15): the input range of every quantised linear map, seen
 * by the float model on images. The images are synthetic H&E patches (`data/synthetic`): every
 * tissue class at CALIBRATION_SEEDS seeds, rendered at the model's input size, the same on every
 * machine — so the int8 model is a function of the weights alone, and an index built with it
 * can be queried from any machine.
 */
import * as ort from 'onnxruntime-node';
import { normalizeInto } from '../data/image.js';
import { renderPatch, TISSUE_CLASSES } from '../data/synthetic/index.js';
import type { Model } from '../model/types.js';
import { INPUT_NAME } from './graph-names.js';
import { buildOnnxModel, PROBE_PREFIX, type ActivationRange, type SerializedModel } from './onnx-graph.js';
import { cpuSessionOptions } from './ort-options.js';

/** Seeds per tissue class: 6 classes × 4 = 24 patches. */
export const CALIBRATION_SEEDS = [101, 102, 103, 104];
/** One image per run: every probe's tensor is held until the run ends, so memory grows with the batch. */
const BATCH = 1;

/** The calibration images, normalised NCHW, in batches of at most BATCH. */
export function* calibrationBatches(size: number): Generator<ort.Tensor> {
  const images = TISSUE_CLASSES.flatMap((cls) => CALIBRATION_SEEDS.map((seed) => renderPatch(cls, size, seed)));
  for (let first = 0; first < images.length; first += BATCH) {
    const batch = images.slice(first, first + BATCH);
    const data = new Float32Array(batch.length * 3 * size * size);
    batch.forEach((pixels, i) => normalizeInto(pixels, size, data, i * 3 * size * size));
    yield new ort.Tensor('float32', data, [batch.length, 3, size, size]);
  }
}

/** Every quantised linear map's input range on the calibration images (the float model's min and max). */
export async function calibrateInt8(model: Model, threads = 2): Promise<Map<string, ActivationRange>> {
  const graph = buildOnnxModel(model.config, model.weights, { quantization: { mode: 'calibrate' } });
  return probeRanges(graph, model.config.inputSize, threads);
}

/**
 * The range of every probe output (PROBE_PREFIX + layer) of a graph built in calibration mode,
 * over the calibration images at `inputSize`: what any model's int8 graph is built from.
 */
export async function probeRanges(
  graph: Uint8Array | SerializedModel,
  inputSize: number,
  threads = 2,
): Promise<Map<string, ActivationRange>> {
  const { model, externalData } = graph instanceof Uint8Array ? { model: graph, externalData: [] } : graph;
  const session = await ort.InferenceSession.create(model, { ...cpuSessionOptions(threads), externalData });
  const ranges = new Map<string, ActivationRange>();
  try {
    const probes = session.outputNames.filter((name) => name.startsWith(PROBE_PREFIX));
    for (const input of calibrationBatches(inputSize)) {
      const outputs = await session.run({ [INPUT_NAME]: input }, probes);
      for (const name of probes) {
        const values = outputs[name].data as Float32Array;
        const layer = name.slice(PROBE_PREFIX.length);
        const range = ranges.get(layer) ?? { min: Infinity, max: -Infinity };
        for (const v of values) {
          if (v < range.min) range.min = v;
          if (v > range.max) range.max = v;
        }
        ranges.set(layer, range);
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}
