/** `histoseek synth`: write a synthetic H&E collection (Kimia layout + pyramidal TIFF slides). */
import { resolve } from 'node:path';
import { writeKimiaCollection } from '../data/synthetic/index.js';
import { parse, positiveInt } from './args.js';
import type { Command } from './command.js';
import { Progress } from './progress.js';

const USAGE = `histoseek synth --out DIR [options]

Writes seeded synthetic "virtual slides" of H&E-stained tissue (six tissue classes, each slide
with its own stain, blur and noise) as a Kimia Path24C-style collection: DIR/train/s*/, DIR/test/s*/
(patches from disjoint regions), DIR/slides/s*.tiff (pyramidal), DIR/slides/labels.csv (each slide's
tissue class, for --labels of index and eval and labels: of training configs) and
DIR/manifest.json.

  --out DIR          output folder
  --seed N           (default 1; the demo uses 1)
  --slides N         (default 24)
  --slide-size PX    (default 2048)
  --patch-size PX    (default 256)
  --train N          training patches per slide (default 100)
  --test N           test patches per slide (default 20)
`;

export const synthCommand: Command = {
  name: 'synth',
  summary: 'write a synthetic H&E collection (for tests, demos, training the default model)',
  usage: USAGE,
  async run(args) {
    const { values } = parse(args, {
      out: { type: 'string' }, seed: { type: 'string' }, slides: { type: 'string' }, 'slide-size': { type: 'string' },
      'patch-size': { type: 'string' }, train: { type: 'string' }, test: { type: 'string' },
    }, USAGE);
    if (!values.out) throw new Error(`--out is required\n\n${USAGE}`);
    const slides = positiveInt(values.slides, 24, '--slides');
    const progress = new Progress('generating slides', slides, 'slides');
    let done = 0;
    const summary = await writeKimiaCollection(resolve(values.out), {
      seed: values.seed === undefined ? 1 : Number(values.seed),
      slides,
      slideSize: positiveInt(values['slide-size'], 2048, '--slide-size'),
      patchSize: positiveInt(values['patch-size'], 256, '--patch-size'),
      trainPerSlide: positiveInt(values.train, 100, '--train'),
      testPerSlide: positiveInt(values.test, 20, '--test'),
      onProgress: (n) => {
        progress.advance(n - done);
        done = n;
      },
    });
    progress.finish();
    process.stderr.write(`${values.out}: ${summary.trainPatches} training and ${summary.testPatches} test patches from ${slides} slides\n`);
    return 0;
  },
};
