/**
 * bench:scale's base descriptors: real embeddings of synthetic H&E patches (the tissue-class patch
 * collection of `histoseek synth --patches`), normalised, cached under os.tmpdir() by model hash
 * and count so that reruns skip rendering and embedding.
 *
 * d = 256: the default model (lgffem-atto-c64-s128) on PATCHES_256 patches at its 128-px input.
 * d = 2048: no trained 2048-d model ships, so the `tiny` preset (C = 512, L = 3 → 4C = 2048) with a
 * seeded random backbone and neck, at a 64-px input for speed, on PATCHES_2048 patches.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writePatchCollection } from '../src/data/synthetic/index.js';
import { embedImageFiles } from '../src/engine/embed-images.js';
import { EMBEDDING_NAME } from '../src/engine/graph-names.js';
import { OnnxEmbedder } from '../src/engine/onnx-session.js';
import { normaliseRows } from '../src/store/vectors/normalise.js';
import { loadCheckpoint, randomModel } from '../src/model/checkpoint.js';
import type { Model } from '../src/model/types.js';
import { DEFAULT_CONFIG, embeddingSize } from '../src/model/config.js';
import { modelHash } from '../src/model/identity.js';
import { info } from './common.js';
import { readFloat32, writeRaw } from './scale-space.js';

const PATCHES_256 = 3000;
const PATCHES_2048 = 420;
const EMBED_BATCH = 16;

export interface Bases {
  vectors: Float32Array;
  labels: string[];
  /** The cached file holding `vectors` (float32, count × d). */
  file: string;
  origin: string;
}

async function modelFor(d: number): Promise<{ model: Model; patches: number }> {
  if (d === 256) return { model: await loadCheckpoint(), patches: PATCHES_256 };
  if (d === 2048)
    return {
      model: randomModel({ ...DEFAULT_CONFIG, preset: 'tiny', neckChannels: 512, neckLayers: 3, inputSize: 64 }, 7),
      patches: PATCHES_2048,
    };
  throw new Error(`bench:scale has base descriptors for d = 256 and d = 2048, not ${d}`);
}

/** The base descriptors of width d: from the cache, else rendered and embedded now (minutes). */
export async function baseDescriptors(d: number): Promise<Bases> {
  const { model, patches } = await modelFor(d);
  if (embeddingSize(model.config) !== d)
    throw new Error(`model ${model.source} gives ${embeddingSize(model.config)}-d descriptors, not ${d}`);
  const perClass = Math.ceil(patches / 6);
  const stem = path.join(
    os.tmpdir(),
    `histoseek-scale-bases-${modelHash(model).slice(0, 16)}-s${model.config.inputSize}-${perClass}x6`,
  );
  const origin = `${model.source} at ${model.config.inputSize} px on ${perClass * 6} synthetic patches (synth --patches ${perClass})`;
  if (existsSync(`${stem}.f32`) && existsSync(`${stem}.json`)) {
    info(`d=${d}: base descriptors from ${stem}.f32`);
    return {
      vectors: readFloat32(`${stem}.f32`),
      labels: JSON.parse(readFileSync(`${stem}.json`, 'utf8')) as string[],
      file: `${stem}.f32`,
      origin,
    };
  }
  const folder = await mkdtemp(path.join(os.tmpdir(), 'histoseek-scale-patches-'));
  try {
    info(`d=${d}: rendering ${perClass * 6} synthetic patches…`);
    const { manifest } = await writePatchCollection(folder, { seed: 1, perClass });
    const records = (JSON.parse(readFileSync(manifest, 'utf8')) as { patches: { file: string; class: string }[] })
      .patches;
    info(`d=${d}: embedding them with ${model.source} at ${model.config.inputSize} px…`);
    const embedder = await OnnxEmbedder.create(model, { threads: 2 });
    const rows: Float32Array[] = [];
    const labels: string[] = [];
    const classOf = new Map(records.map((r) => [path.join(folder, r.file), r.class]));
    try {
      for await (const batch of embedImageFiles(embedder, [...classOf.keys()], EMBED_BATCH)) {
        if (batch.failures.length)
          throw new Error(`cannot read rendered patches: ${batch.failures.map((f) => f.message).join('; ')}`);
        rows.push(normaliseRows(batch.outputs.get(EMBEDDING_NAME)!.data, d));
        labels.push(...batch.paths.map((p) => classOf.get(p)!));
      }
    } finally {
      await embedder.release();
    }
    const vectors = new Float32Array(labels.length * d);
    let offset = 0;
    for (const r of rows) vectors.set(r, (offset += r.length) - r.length);
    writeRaw(`${stem}.f32`, vectors);
    writeFileSync(`${stem}.json`, JSON.stringify(labels));
    return { vectors, labels, file: `${stem}.f32`, origin };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
