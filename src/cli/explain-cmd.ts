/** `histoseek explain`: Grad-CAM++ heat maps of why an image matches another (or what it rests on). */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { ItemLoader } from '../collections/load.js';
import { createEmbedder } from '../engine/embedders.js';
import { isFeatureModel } from '../model/embedding-model.js';
import { normalizeInto } from '../data/image.js';
import { Explainer, type Explanation, type ExplainImage } from '../explain/gradcam.js';
import type { Model } from '../model/types.js';
import { explanationGrid } from '../explain/grid.js';
import { overlayPng } from '../explain/overlay.js';
import { defineCommand } from './command.js';
import { MODEL_OPTIONS, MODEL_USAGE, parseModelOptions } from './model-options.js';
import { resolveModel } from '../api/models.js';

const USAGE = `histoseek explain QUERY [RESULT] --out DIR [options]

Grad-CAM++ (Chattopadhyay et al. 2018) on the terminal nodes P1_2…P4_2 of every neck layer, for
the cosine similarity of QUERY's descriptor to RESULT's (both sides of the match are explained),
or, without RESULT, to QUERY's own descriptor (what its embedding rests on). Writes heat-map
overlays (PNG) per layer and combined, and one page grid.png like the paper's figures.
QUERY and RESULT are image files, or slide patches as search prints them (<slide>#region=x,y,w,h).

  --out DIR     where the PNGs go
  --layer L     only neck layer L (0-based)
  --node N      only terminal node N (1-4 for P1_2…P4_2)
${MODEL_USAGE}`;

/** Why explain cannot run on an encoder's own features, and what does. */
function featuresOnly(source: string): string {
  return (
    `explain: ${source} gives features only, and explain draws Grad-CAM++ on LGFFEM's neck layers. ` +
    `This encoder supports index, search, eval, serve, embed and map; to explain its matches, train a neck over it ` +
    `('histoseek train' with model.encoder, docs/models-and-weights.md) and pass that checkpoint with --weights beside --encoder`
  );
}

/** The image's raw descriptor, from the inference path. */
async function descriptorOf(model: Model, image: ExplainImage): Promise<Float32Array> {
  const embedder = await createEmbedder(model);
  const input = new Float32Array(3 * image.size * image.size);
  normalizeInto(image.pixels, image.size, input, 0);
  const descriptor = (await embedder.embed({ shape: [1, 3, image.size, image.size], data: input })).data;
  await embedder.release();
  return descriptor;
}

async function writeOverlays(dir: string, prefix: string, image: ExplainImage, e: Explanation): Promise<string[]> {
  const files: [string, Float32Array][] = [
    [`${prefix}-combined.png`, e.combined],
    ...[...e.layers].map(([k, m]) => [`${prefix}-${k}.png`, m] as [string, Float32Array]),
    ...[...e.maps].map(([k, m]) => [`${prefix}-${k}.png`, m] as [string, Float32Array]),
  ];
  for (const [name, map] of files) await writeFile(join(dir, name), await overlayPng(image.pixels, image.size, map));
  return files.map(([name]) => name);
}

export const explainCommand = defineCommand({
  usage: USAGE,
  options: { ...MODEL_OPTIONS, out: { type: 'string' }, layer: { type: 'string' }, node: { type: 'string' } },
  async run({ values, positionals }) {
    if (positionals.length < 1 || positionals.length > 2)
      throw new Error(`give a query image and optionally a result image\n\n${USAGE}`);
    if (!values.out) throw new Error(`--out DIR is required\n\n${USAGE}`);
    const resolved = await resolveModel(parseModelOptions(values));
    if (isFeatureModel(resolved)) throw new Error(featuresOnly(resolved.source));
    const model = resolved;
    const layer = values.layer === undefined ? undefined : Number(values.layer);
    const node = values.node === undefined ? undefined : Number(values.node);
    if (layer !== undefined && !(Number.isInteger(layer) && layer >= 0 && layer < model.config.neckLayers))
      throw new Error(`--layer must be 0…${model.config.neckLayers - 1}, got '${values.layer}'`);
    if (node !== undefined && !(Number.isInteger(node) && node >= 1 && node <= 4))
      throw new Error(`--node must be 1…4 (P1_2…P4_2), got '${values.node}'`);
    const options = {
      layers: layer === undefined ? undefined : [layer],
      nodes: node === undefined ? undefined : [node - 1],
    };

    const size = model.config.inputSize;
    const loader = new ItemLoader();
    const load = async (source: string): Promise<ExplainImage> => ({
      pixels: (await loader.load(source, size)).pixels,
      size,
    });
    const [query, result] = await Promise.all(positionals.map((p) => load(p.includes('#region=') ? p : resolve(p))));
    await loader.close();
    const explainer = await Explainer.create(model);
    const started = performance.now();
    await mkdir(values.out, { recursive: true });
    const name = (p: string) => basename(p.split('#')[0], extname(p.split('#')[0]));
    let rows;
    let title;
    if (result) {
      const match = await explainer.explainMatch(query, result, options);
      await writeOverlays(values.out, 'query', query, match.query);
      await writeOverlays(values.out, 'result', result, match.result);
      rows = [
        { label: `query: ${name(positionals[0])}`, image: query, explanation: match.query },
        { label: `result: ${name(positionals[1])}`, image: result, explanation: match.result },
      ];
      title = `Grad-CAM++ — why ${name(positionals[0])} matches ${name(positionals[1])} (cosine ${match.score.toFixed(3)})`;
    } else {
      const self = await explainer.explain(
        query,
        { kind: 'similarity', reference: await descriptorOf(model, query) },
        options,
      );
      await writeOverlays(values.out, 'query', query, self);
      rows = [{ label: `query: ${name(positionals[0])}`, image: query, explanation: self }];
      title = `Grad-CAM++ — what ${name(positionals[0])}'s descriptor rests on`;
    }
    await writeFile(join(values.out, 'grid.png'), await explanationGrid(rows, { title }));
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `${values.out}: overlays per layer (${[...rows[0].explanation.layers.keys()].join(', ')}), per node (${[...rows[0].explanation.maps.keys()].join(', ')}) and combined, and grid.png — explained in ${seconds.toFixed(1)} s\n`,
    );
    return 0;
  },
});
