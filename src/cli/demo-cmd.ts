/**
 * `histoseek demo`: the whole system on a fresh machine with no downloads — generate a synthetic
 * Kimia-style collection, index its training patches with the default model, evaluate with its
 * test patches under the official protocol, and print the figures. Rerunning reuses what exists.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeKimiaCollection, type CollectionOptions } from '../data/synthetic/index.js';
import { defineCommand } from './command.js';
import { parseThreads, threadsUsage } from './run-options.js';
import { runEval, summary } from './eval-cmd.js';
import { indexWithProgress } from './index-run.js';
import { Progress } from '../util/progress.js';

const USAGE = `histoseek demo [--out DIR] [--quick]

Generates a synthetic H&E collection (24 virtual slides, 2,400 training and 480 test patches, and
the slides as pyramidal TIFFs), indexes the training patches with the default model, evaluates with
the test patches (official Kimia Path24C protocol: each test patch is predicted by its nearest
training patch) and prints the figures. Everything goes under DIR:
DIR/collection, DIR/db (the index), DIR/report.

  --out DIR     where everything goes (default ./histoseek-demo)
  --quick       a small collection (6 slides), for a fast check
${threadsUsage(16)}`;

export const DEMO_COLLECTION: CollectionOptions = {
  seed: 1,
  slides: 24,
  slideSize: 2048,
  patchSize: 256,
  trainPerSlide: 100,
  testPerSlide: 20,
};
export const QUICK_DEMO_COLLECTION: CollectionOptions = {
  seed: 1,
  slides: 6,
  slideSize: 768,
  patchSize: 128,
  trainPerSlide: 12,
  testPerSlide: 4,
};

export async function ensureCollection(dir: string, options: CollectionOptions): Promise<void> {
  if (existsSync(join(dir, 'manifest.json'))) {
    process.stderr.write(`using the synthetic collection in ${dir}\n`);
    return;
  }
  const progress = new Progress('generating slides', options.slides!, 'slides');
  await writeKimiaCollection(dir, { ...options, onProgress: (n) => progress.reach(n) });
  progress.finish();
}

export const demoCommand = defineCommand({
  usage: USAGE,
  options: {
    out: { type: 'string', default: 'histoseek-demo' },
    quick: { type: 'boolean', default: false },
    threads: { type: 'string' },
  },
  async run({ values }) {
    const out = resolve(values.out!);
    const threads = parseThreads(values.threads);
    const collection = join(out, 'collection');
    const db = join(out, 'db');
    const started = performance.now();
    await ensureCollection(collection, values.quick ? QUICK_DEMO_COLLECTION : DEMO_COLLECTION);
    await indexWithProgress({ root: collection, layout: 'kimia', db, batch: 16, threads });
    const evaluated = await runEval({
      db,
      queries: collection,
      layout: 'kimia',
      leaveOneOut: false,
      k: 10,
      report: join(out, 'report'),
      batch: 16,
      threads,
    });
    const minutes = ((performance.now() - started) / 60000).toFixed(1);
    process.stdout.write(
      `\nhistoseek demo: ${evaluated.queries} test patches searched against the indexed training patches (${minutes} min)\n` +
        `${summary(evaluated.metrics)}\n\n` +
        `report:     ${evaluated.paths.markdown}\n` +
        `confusion:  ${evaluated.paths.png}\n` +
        `index:      ${db}\n` +
        `try:        histoseek search ${join(collection, 'test', 's0')}/<a patch>.png --db ${db}\n` +
        `browse:     histoseek serve --db ${db}   (then open http://127.0.0.1:8080)\n`,
    );
    return 0;
  },
});
