// Worker threads that run this project's TypeScript. Node 20 workers get neither
// `--import tsx` nor tsx's `register()` from their parent, so a `.ts` worker registers
// tsx itself first; after a build (`.js`) the file is started as it is.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function spawnWorker(file: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (!file.pathname.endsWith('.ts')) return new Worker(file, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(file.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}
