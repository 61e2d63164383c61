/** Shared test utilities: fixture paths and the spec's parity tolerance. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { HostTensor } from '../src/model/host-tensor.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const FIXTURE_WEIGHTS = `${FIXTURES}lgffem_test_c32.safetensors`;
export const FIXTURE_IO = `${FIXTURES}lgffem_test_c32_io.safetensors`;

/** Spec §5: max abs difference ≤ 1e-4 of the expected tensor's max abs value. */
export const PARITY_TOLERANCE = 1e-4;

export function relativeMaxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'tensor sizes differ');
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
  }
  return maxDiff / (maxAbs || 1);
}

export function assertClose(actual: HostTensor, expected: HostTensor, what: string, tolerance = PARITY_TOLERANCE): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const err = relativeMaxError(actual.data, expected.data);
  assert.ok(err <= tolerance, `${what}: relative max error ${err.toExponential(2)} > ${tolerance}`);
}
