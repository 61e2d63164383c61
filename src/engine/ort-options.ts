/** onnxruntime session options shared by every session histoseek creates. */
import type { InferenceSession } from 'onnxruntime-node';

/**
 * CPU sessions: `threads` intra-op threads, full graph optimisation, and no spin-waiting after a
 * run — spinning threads of one session starve the next one (embedding then searching, in the
 * server) where cores are few: with spinning, the pair took longer than the sum of the two without.
 */
export function cpuSessionOptions(threads = 2): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}
