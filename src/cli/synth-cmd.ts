/** `histoseek synth`: write a synthetic H&E collection (Kimia layout + pyramidal TIFF slides, or single patches by class). */
import { resolve } from 'node:path';
import { TISSUE_CLASSES, writeKimiaCollection, writePatchCollection } from '../data/synthetic/index.js';
import { positiveInt } from './args.js';
import { defineCommand } from './command.js';
import { Progress } from '../util/progress.js';

const USAGE = `histoseek synth --out DIR [options]
histoseek synth --out DIR --patches N [--seed N]

Writes seeded synthetic "virtual slides" of H&E-stained tissue (six tissue classes, each slide
with its own stain, blur and noise) as a Kimia Path24C-style collection: DIR/train/s*/, DIR/test/s*/
(patches from disjoint regions), DIR/slides/s*.tiff (pyramidal), DIR/slides/labels.csv (each slide's
tissue class, for --labels of index and eval and labels: of training configs) and
DIR/manifest.json.

With --patches, writes single rendered patches instead, N per class, in the folder layout
(DIR/<class>/*.png) with DIR/manifest.json: each patch has its own stain, blur and noise and its own
side (128–256 px at 0.5 µm/px), and 60% of them hold a rectangle of another class covering 10–45% of
the patch — training data for telling tissue classes apart (models/tissue/ is trained on it).

  --out DIR          output folder
  --seed N           (default 1; the demo uses 1)
  --slides N         (default 24)
  --slide-size PX    (default 2048)
  --patch-size PX    (default 256)
  --train N          training patches per slide (default 100)
  --test N           test patches per slide (default 20)
  --patches N        single patches per class, instead of slides
`;

const SLIDE_OPTIONS = ['slides', 'slide-size', 'patch-size', 'train', 'test'] as const;

export const synthCommand = defineCommand({
  usage: USAGE,
  options: {
    out: { type: 'string' },
    seed: { type: 'string' },
    slides: { type: 'string' },
    'slide-size': { type: 'string' },
    'patch-size': { type: 'string' },
    train: { type: 'string' },
    test: { type: 'string' },
    patches: { type: 'string' },
  },
  async run({ values }) {
    if (!values.out) throw new Error(`--out is required\n\n${USAGE}`);
    const seed = values.seed === undefined ? 1 : Number(values.seed);
    if (values.patches !== undefined) {
      const slideOption = SLIDE_OPTIONS.find((o) => values[o] !== undefined);
      if (slideOption)
        throw new Error(`--${slideOption} is an option of slides; --patches writes single patches\n\n${USAGE}`);
      const perClass = positiveInt(values.patches, 0, '--patches');
      const progress = new Progress('rendering patches', TISSUE_CLASSES.length, 'classes');
      const { patches } = await writePatchCollection(resolve(values.out), {
        seed,
        perClass,
        onProgress: () => progress.advance(1),
      });
      progress.finish();
      process.stderr.write(`${values.out}: ${patches} patches, ${perClass} per class\n`);
      return 0;
    }
    const slides = positiveInt(values.slides, 24, '--slides');
    const progress = new Progress('generating slides', slides, 'slides');
    const summary = await writeKimiaCollection(resolve(values.out), {
      seed,
      slides,
      slideSize: positiveInt(values['slide-size'], 2048, '--slide-size'),
      patchSize: positiveInt(values['patch-size'], 256, '--patch-size'),
      trainPerSlide: positiveInt(values.train, 100, '--train'),
      testPerSlide: positiveInt(values.test, 20, '--test'),
      onProgress: (n) => progress.reach(n),
    });
    progress.finish();
    process.stderr.write(
      `${values.out}: ${summary.trainPatches} training and ${summary.testPatches} test patches from ${slides} slides\n`,
    );
    return 0;
  },
});
