/**
 * What the neck is trained over, frozen: LGFFEM's own ConvNeXt V2 backbone, or the feature pyramid
 * of a user's ONNX encoder (`model.encoder`). Either one is run once per (image, view) into the
 * feature cache, keyed by a hash of everything its features depend on.
 */
import { createHash } from 'node:crypto';
import { BackboneSession, type PyramidSource } from '../engine/onnx-parts.js';
import { OnnxPyramidSession, probeOnnxEncoder, PYRAMID_STRIDES, readOnnxEncoder } from '../engine/onnx-encoder.js';
import type { OnnxEncoderProbe } from '../engine/onnx-encoder.js';
import type { Model } from '../model/types.js';
import type { OnnxEncoderSpec } from '../model/encoder.js';
import type { HostTensor } from '../model/host-tensor.js';
import type { EncoderSection } from './config.js';

/** A training config's encoder, read and run once: its spec and the tensors its pyramid is taken from. */
export interface TrainingEncoder {
  spec: OnnxEncoderSpec;
  probe: OnnxEncoderProbe;
}

/**
 * Reads `section`'s ONNX file at the config's input size (`model.input_size`, else the encoder's own)
 * and finds its pyramid; `source` (the config file) prefixes the errors that are the config's.
 */
export async function readTrainingEncoder(
  section: EncoderSection,
  source: string,
  threads: number,
): Promise<TrainingEncoder> {
  const options = { ...section.input, pyramid: section.pyramid };
  const own = await readOnnxEncoder(section.path, options).catch((err: Error) => {
    throw new Error(`${source}: model.encoder: ${err.message}`, { cause: err });
  });
  const size = section.size ?? own.preprocessing.size;
  let spec = own;
  if (size !== own.preprocessing.size) {
    // Only the size differs from a read that succeeded: a refusal now is the file's fixed input size.
    spec = await readOnnxEncoder(section.path, { ...options, size }).catch(() => {
      throw new Error(
        `${source}: model.input_size is ${size}, but ${section.path} takes ${own.preprocessing.size}×${own.preprocessing.size} images`,
      );
    });
  }
  if (size % 32)
    throw new Error(`${source}: model.input_size must be a multiple of 32 for the neck's four levels, got ${size}`);
  const probe = await probeOnnxEncoder(spec, threads);
  const missing = PYRAMID_STRIDES.filter((stride) => !probe.pyramid.some((level) => level.stride === stride));
  if (missing.length)
    throw new Error(
      `${section.path}: no feature map at stride ${missing.join(', ')} of a ${size}×${size} input, so no pyramid for the neck; name its four tensors (model.encoder_pyramid)`,
    );
  return { spec, probe };
}

/** SHA-256 of the backbone's weights. */
function backboneHash(weights: Map<string, HostTensor>): string {
  const hash = createHash('sha256');
  for (const name of [...weights.keys()].filter((n) => n.startsWith('backbone.')).sort()) {
    const t = weights.get(name)!;
    hash.update(name);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
}

/** The frozen part under a model's neck: how to run it, and the hash its cached features are keyed by. */
export interface FrozenPyramid {
  /** Another backbone, encoder file, preprocessing or choice of tensors gives another hash (and cache). */
  featuresHash: string;
  open(threads: number): Promise<PyramidSource>;
}

export function frozenPyramid(model: Model, encoder?: TrainingEncoder): FrozenPyramid {
  if (!encoder)
    return {
      featuresHash: backboneHash(model.weights),
      open: (threads) => BackboneSession.create(model.config, model.weights, threads),
    };
  const { spec, probe } = encoder;
  const recipe = { sha256: spec.sha256, preprocessing: spec.preprocessing, pyramid: probe.pyramid.map((l) => l.name) };
  return {
    featuresHash: createHash('sha256').update(JSON.stringify(recipe)).digest('hex'),
    open: (threads) => OnnxPyramidSession.create(spec, { threads, probe }),
  };
}
