/** The CPU a bench:embed figure was measured on: onnxruntime's kernels, and so the figures, depend on it. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The CPU's model name and the vector extensions that matter to onnxruntime's kernels. */
export function cpuDescription(): { cpu: string; cpu_flags: string[] } {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const flags = (/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '').split(' ');
  const wanted = /^(avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|avx512_bf16|amx_\w+|avx512_fp16)$/;
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cpu_flags: flags.filter((f) => wanted.test(f)) };
}
