/** onnxruntime session options shared by every session histoseek creates. */
import type { InferenceSession } from 'onnxruntime-node';

/**
 * CPU sessions: `threads` intra-op threads, full graph optimisation, and no spin-waiting after a
 * run — spinning threads of one session starve the next one (embedding then searching, in the
 * server) on a 2-core machine (measured: embed + search 36 ms spinning, their sum 23.5 ms without).
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
