/**
 * Starts a worker thread on a module beside the caller's: the compiled `.js` as it is, or, when the
 * caller itself runs as TypeScript (tests and benchmarks under tsx), the `.ts` through tsx's
 * loader, which worker threads do not inherit. That bootstrap is an ES module given as a `data:`
 * URL rather than `eval` code: an eval'd worker is CommonJS with a global `__dirname` of '.', and
 * usearch's ES module then searches for its native build upward from '.' without end.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `callerUrl`: the caller's import.meta.url; `name`: the module's file name without its extension. */
export function startModuleWorker(callerUrl: string, name: string, options: WorkerOptions): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), options);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const script = JSON.stringify(new URL(`./${name}.ts`, callerUrl).href);
  const bootstrap = `const tsx = await import(${tsx}); tsx.register(); await import(${script});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}
