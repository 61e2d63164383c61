import type { HostTensor } from '../model/host-tensor.js';

/** Anything that turns a batch of normalised NCHW images into named outputs, `embedding` among them. */
export interface Embedder {
  readonly inputSize: number;
  readonly dimensions: number;
  run(input: HostTensor): Promise<Map<string, HostTensor>>;
}
