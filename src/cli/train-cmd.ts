/** `histoseek train`: fit LGFFEM's neck and head on labelled collections (the paper's recipe). */
import { readTrainConfig } from '../train/config.js';
import { train } from '../train/trainer.js';
import { defineCommand } from './command.js';
import { PhaseProgress } from '../util/progress.js';

const USAGE = `histoseek train --config FILE [--encoder FILE.onnx] [--resume]

Trains the neck and head (the backbone stays frozen; its features are computed once and cached)
with Sub-center ArcFace, AdamW (amsgrad), cosine learning rate, grad-norm clipping and the
paper's augmentations, stage after stage as the config lists them (the paper's strategies
A → B → C). Writes to the config's output folder: best.safetensors and last.safetensors (usable
at once with index, search and eval via --weights), log.jsonl, loss-curve.png, and per-epoch
state for --resume. Example configs: configs/*.yaml.

  --config FILE   the training config (YAML)
  --encoder FILE  train over this ONNX encoder's feature pyramid instead of a ConvNeXt V2 backbone:
                  the config's model.encoder, given here (e.g. a file kept outside the repository);
                  its preprocessing comes from FILE.json beside it or the config's encoder_input
  --resume        continue the run in the output folder where it stopped
`;

export const trainCommand = defineCommand({
  usage: USAGE,
  options: { config: { type: 'string' }, encoder: { type: 'string' }, resume: { type: 'boolean', default: false } },
  async run({ values }) {
    if (!values.config) throw new Error(`--config is required\n\n${USAGE}`);
    const config = await readTrainConfig(values.config, { encoder: values.encoder });
    const bars = new PhaseProgress();
    const result = await train(
      config,
      {
        say: (line) => {
          bars.finish();
          process.stderr.write(`${line}\n`);
        },
        progress: (phase, done, total, detail) =>
          bars.update(phase, done, total, phase.startsWith('epoch') ? 'steps' : 'rows', detail),
      },
      { resume: values.resume!, source: values.config },
    );
    bars.finish();
    process.stdout.write(`best: ${result.best}\nlast: ${result.last}\n`);
    return 0;
  },
});
