import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { writeKimiaCollection } from '../../src/data/synthetic/index.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { parseTrainConfig } from '../../src/train/config.js';
import { loadStageData } from '../../src/train/data.js';
import { histoseek, ROOT, startHistoseek, temporaryFolder, untilWhileRunning } from '../helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 600_000;

const dir = await temporaryFolder('histoseek-train-');
const collection = join(dir, 'collection');
await writeKimiaCollection(collection, {
  seed: 5,
  slides: 3,
  slideSize: 384,
  patchSize: 64,
  trainPerSlide: 8,
  testPerSlide: 3,
});

function config(output: string, extra = ''): string {
  return `seed: 3
output: ${output}
micro_batch: 2
model: { preset: test, neck_channels: 8, neck_layers: 1, input_size: 64 }
stages:
  - name: C
    data: ${collection}
    layout: kimia
    val: ${collection}
    epochs: 3
    batch_size: 6
    lr: 0.005
    augment: { views: 2 }
${extra}`;
}

async function weightsOf(path: string) {
  return (await readSafetensors(path)).tensors;
}

test(
  'a training run killed with SIGKILL and resumed ends with the same weights as an uninterrupted one',
  { timeout: TIMEOUT },
  async () => {
    const whole = join(dir, 'whole.yaml');
    await writeFile(whole, config(join(dir, 'run-whole')));
    const r = histoseek('train', '--config', whole);
    assert.equal(r.status, 0, r.stderr);
    for (const file of ['best.safetensors', 'last.safetensors', 'log.jsonl', 'loss-curve.png', 'state.json'])
      assert.ok(existsSync(join(dir, 'run-whole', file)), file);
    assert.match(r.stderr, /stage 1 epoch 3: mean loss [\d.]+ · validation η_tot/);

    const killed = join(dir, 'killed.yaml');
    await writeFile(killed, config(join(dir, 'run-killed')));
    const run = startHistoseek('train', '--config', killed);
    await untilWhileRunning(
      run,
      async () => {
        const state = await readFile(join(dir, 'run-killed', 'state.json'), 'utf8').catch(() => null);
        return !!state && JSON.parse(state).epoch >= 1;
      },
      'epoch 1 was saved',
    );
    run.child.kill('SIGKILL');
    assert.equal((await run.done).signal, 'SIGKILL');
    assert.ok(
      JSON.parse(await readFile(join(dir, 'run-killed', 'state.json'), 'utf8')).epoch < 3,
      'killed before the end',
    );

    const again = histoseek('train', '--config', killed);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /holds a training run already; pass --resume/);
    const resumed = histoseek('train', '--config', killed, '--resume');
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming .* at stage 1, epoch [23]/);

    const a = await weightsOf(join(dir, 'run-whole', 'last.safetensors'));
    const b = await weightsOf(join(dir, 'run-killed', 'last.safetensors'));
    assert.equal(a.size, b.size);
    for (const [name, t] of a) {
      const u = b.get(name)!;
      for (let i = 0; i < t.data.length; i++)
        assert.ok(Math.abs(t.data[i] - u.data[i]) <= 1e-6, `${name}[${i}]: ${t.data[i]} vs ${u.data[i]}`);
    }

    // The trained checkpoint is an ordinary model file: the inference path takes it as it is.
    const image = join(collection, 'test', 's0');
    const embedded = histoseek(
      'embed',
      image,
      '--weights',
      join(dir, 'run-whole', 'best.safetensors'),
      '--out',
      join(dir, 'e.safetensors'),
    );
    assert.equal(embedded.status, 0, embedded.stderr);
    assert.deepEqual((await readSafetensors(join(dir, 'e.safetensors'))).tensors.get('embedding')!.shape, [3, 32]);
  },
);

test('bad configs fail before any work, naming the problem', { timeout: TIMEOUT }, async () => {
  const cases: [string, RegExp][] = [
    [config(join(dir, 'x'), '    colour: blue\n'), /stages\[0\]: unknown key 'colour'/],
    [config(join(dir, 'x')).replace('lr: 0.005', 'lr: -1'), /stages\[0\]\.lr: must be a positive number, got -1/],
    [config(join(dir, 'x')).replace('preset: test', 'preset: gigantic'), /model\.preset: unknown preset 'gigantic'/],
    [config(join(dir, 'x')).replace(`    data: ${collection}\n`, ''), /stages\[0\]\.data: required/],
    [
      config(join(dir, 'x')).replace('micro_batch: 2', 'engine: cuda'),
      /config\.engine: must be one of onnxruntime, got 'cuda'/,
    ],
    [
      config(join(dir, 'x')).replace('micro_batch: 2', 'engine: tfjs'),
      /config\.engine: 'tfjs' is gone since histoseek 1\.2 \(training runs on onnxruntime\)/,
    ],
  ];
  for (const [text, error] of cases) {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, text);
    const r = histoseek('train', '--config', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, error);
    assert.match(r.stderr, /bad\.yaml/);
  }
  const oneClass = join(dir, 'one-class');
  await mkdir(join(oneClass, 'tumour'), { recursive: true });
  for (let i = 0; i < 8; i++)
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#c080a0' } })
      .png()
      .toFile(join(oneClass, 'tumour', `${i}.png`));
  const file = join(dir, 'one.yaml');
  await writeFile(
    file,
    config(join(dir, 'one'))
      .replace(`data: ${collection}`, `data: ${oneClass}`)
      .replace('layout: kimia', 'layout: folder')
      .replace(`    val: ${collection}\n`, ''),
  );
  const r = histoseek('train', '--config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /one-class has 1 class \('tumour'\); a metric-learning loss needs at least 2/);
  assert.equal(existsSync(join(dir, 'one')), false, 'nothing was written');
  assert.throws(
    () => parseTrainConfig({ stages: [{ data: 'x', epochs: 0 }] }, dir),
    /stages\[0\]\.epochs: must be an integer ≥ 1, got 0/,
  );
});

test('the example configs of strategies A, B and C and the shipped models validate', { timeout: TIMEOUT }, async () => {
  const { readTrainConfig } = await import('../../src/train/config.js');
  const stages = [];
  for (const name of ['strategy-a', 'strategy-b', 'strategy-c', 'default-model', 'tissue-model'])
    stages.push((await readTrainConfig(join(ROOT, 'configs', `${name}.yaml`))).stages.map((s) => s.layout));
  assert.deepEqual(stages, [
    ['imagenet'],
    ['imagenet', 'pannuke'],
    ['imagenet', 'pannuke', 'kimia'],
    ['kimia'],
    ['folder'],
  ]);
});

test(
  'a stage with a slide labels CSV trains on its labels: training and validation items relabelled by slide',
  { timeout: TIMEOUT },
  async () => {
    const csv = join(dir, 'two-classes.csv');
    await writeFile(csv, 'slide,label\ns0,a\ns1,b\ns2,a\n');
    const stage = parseTrainConfig(
      { stages: [{ data: collection, layout: 'kimia', labels: csv, val: collection, epochs: 1, batch_size: 6 }] },
      dir,
    ).stages[0];
    const data = await loadStageData(stage, 0, 'stages[0]');
    assert.deepEqual(data.classes, ['a', 'b']);
    const expected = (items: { slide?: string }[]) => items.map((i) => (i.slide === 's1' ? 1 : 0));
    assert.deepEqual(data.trainLabels, expected(data.train));
    assert.deepEqual(data.valLabels, expected(data.val));
    assert.equal(data.train.length, 24);
    assert.equal(data.val.length, 9);
  },
);

const KATHER = join(ROOT, '../shared/data/kather2016-samples');

test(
  'a short training run on the Kather tiles completes and reports its metrics',
  { timeout: TIMEOUT, skip: existsSync(KATHER) ? false : `${KATHER} is absent (shared test data)` },
  async () => {
    const file = join(dir, 'kather.yaml');
    await writeFile(
      file,
      `seed: 1
output: ${join(dir, 'run-kather')}
model: { preset: test, neck_channels: 8, neck_layers: 1, input_size: 64 }
stages:
  - name: kather
    data: ${KATHER}
    layout: folder
    val_fraction: 0.34
    epochs: 2
    batch_size: 8
    augment: { views: 2 }
`,
    );
    const r = histoseek('train', '--config', file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /16 training and 8 validation items, 8 classes/);
    const epochs = (await readFile(join(dir, 'run-kather', 'log.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l.includes('"epoch"') && l.includes('mean_loss'))
      .map((l) => JSON.parse(l));
    assert.equal(epochs.length, 2);
    for (const e of epochs)
      for (const key of ['eta_p', 'eta_tot', 'mv_at_5', 'map_at_10']) assert.ok(e[key] >= 0 && e[key] <= 1, key);
  },
);
