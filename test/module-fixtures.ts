/** Per-module reference cases (test/fixtures/lgffem_modules.safetensors, from the PyTorch reference). */
import type { HostTensor } from '../src/model/host-tensor.js';
import { convnextBlock, globalAggregator, localAggregator, miniHead, projectToNeck } from '../src/model/lgffem.js';
import type { Ops } from '../src/model/ops.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { FIXTURES } from './helpers.js';

export interface ModuleCase {
  name: string;
  inputs: HostTensor[];
  expected: HostTensor;
  /** Weights named `<case>.<param>`, as the definition's functions look them up. */
  weights: Map<string, HostTensor>;
  /** Whether the output is a vector [N, C] rather than a feature map. */
  vector: boolean;
  run<T>(ops: Ops<T>, inputs: T[]): T;
}

const WIDTH = 8;
const RUNNERS: Record<string, Pick<ModuleCase, 'run' | 'vector'>> = {
  block: { vector: false, run: (ops, [x]) => convnextBlock(ops, x, 'block', 12) },
  project: { vector: false, run: (ops, [x]) => projectToNeck(ops, x, 'project', 12, WIDTH) },
  la: { vector: false, run: (ops, [x]) => localAggregator(ops, x, 'la', WIDTH, false) },
  la_up: { vector: false, run: (ops, [x]) => localAggregator(ops, x, 'la_up', WIDTH, true) },
  ga: { vector: false, run: (ops, [x]) => globalAggregator(ops, x, 'ga', WIDTH, false) },
  ga_down_even: { vector: false, run: (ops, [x]) => globalAggregator(ops, x, 'ga_down_even', WIDTH, true) },
  ga_down_odd: { vector: false, run: (ops, [x]) => globalAggregator(ops, x, 'ga_down_odd', WIDTH, true) },
  head: { vector: true, run: (ops, [x]) => miniHead(ops, x, 'head', WIDTH) },
  fuse: { vector: false, run: (ops, terms) => ops.fuse(terms, 'fuse.weight') },
};

export async function loadModuleCases(): Promise<ModuleCase[]> {
  const tensors = (await readSafetensors(`${FIXTURES}lgffem_modules.safetensors`)).tensors;
  return Object.entries(RUNNERS).map(([name, runner]) => {
    const own = [...tensors]
      .filter(([key]) => key.startsWith(`${name}/`))
      .map(([key, t]) => [key.slice(name.length + 1), t] as const);
    const inputs = own
      .filter(([k]) => k === 'input' || k.startsWith('term'))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, t]) => t);
    const weights = new Map(
      own
        .filter(([k]) => k !== 'output' && k !== 'input' && !k.startsWith('term'))
        .map(([k, t]) => [`${name}.${k}`, t]),
    );
    return { name, inputs, expected: own.find(([k]) => k === 'output')![1], weights, ...runner };
  });
}
