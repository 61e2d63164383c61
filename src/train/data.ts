/** A training stage's data: its collections read and checked, classes numbered, a seeded validation split. */
import type { CollectionItem } from '../collections/collection.js';
import { naturalCompare } from '../util/natural-compare.js';
import { readCollection } from '../collections/read.js';
import { Random } from '../util/random.js';
import type { StageConfig } from './config.js';

export interface StageData {
  classes: string[];
  train: CollectionItem[];
  trainLabels: number[];
  val: CollectionItem[];
  valLabels: number[];
}

function shuffled<T>(items: T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** `fraction` of each class (at least one item when the class has two or more) goes to validation. */
function stratifiedSplit(
  items: CollectionItem[],
  fraction: number,
  random: Random,
): [CollectionItem[], CollectionItem[]] {
  const byLabel = new Map<string, CollectionItem[]>();
  for (const item of items) byLabel.set(item.label, [...(byLabel.get(item.label) ?? []), item]);
  const train: CollectionItem[] = [];
  const val: CollectionItem[] = [];
  for (const label of [...byLabel.keys()].sort(naturalCompare)) {
    const group = shuffled(byLabel.get(label)!, random);
    const n = fraction > 0 && group.length >= 2 ? Math.max(1, Math.round(fraction * group.length)) : 0;
    val.push(...group.slice(0, n));
    train.push(...group.slice(n));
  }
  const order = new Map(items.map((item, i) => [item.source, i]));
  const byOrder = (a: CollectionItem, b: CollectionItem) => order.get(a.source)! - order.get(b.source)!;
  return [train.sort(byOrder), val.sort(byOrder)];
}

/** Reads and checks a stage's data; every problem is reported before any training starts. */
export async function loadStageData(stage: StageConfig, seed: number, where: string): Promise<StageData> {
  const collection = await readCollection(stage.data, stage.layout, 'index', { labels: stage.labels });
  const unlabelled = collection.items.find((i) => !i.label);
  if (unlabelled) throw new Error(`${where}: ${unlabelled.source} has no label`);
  const classes = [...new Set(collection.items.map((i) => i.label))].sort(naturalCompare);
  if (classes.length < 2)
    throw new Error(
      `${where}: ${stage.data} has ${classes.length} class${classes.length === 1 ? ` ('${classes[0]}')` : 'es'}; a metric-learning loss needs at least 2`,
    );
  let train = collection.items;
  let val: CollectionItem[];
  if (stage.val) {
    val = (await readCollection(stage.val, stage.layout, 'queries', { labels: stage.labels })).items;
    const unknown = val.find((i) => !classes.includes(i.label));
    if (unknown)
      throw new Error(
        `${where}: validation item ${unknown.source} has label '${unknown.label}', which the training data lacks`,
      );
  } else {
    [train, val] = stratifiedSplit(collection.items, stage.valFraction, new Random(seed));
  }
  if (train.length < stage.batchSize)
    throw new Error(
      `${where}: ${train.length} training items are fewer than one batch (batch_size ${stage.batchSize})`,
    );
  const index = new Map(classes.map((c, i) => [c, i]));
  return {
    classes,
    train,
    trainLabels: train.map((i) => index.get(i.label)!),
    val,
    valLabels: val.map((i) => index.get(i.label)!),
  };
}
