// `agentmem serve --workers N`: N server processes on one port (node:cluster), for a host with
// more cores than one event loop can use. Each worker is a whole instance, as if started
// apart: so only where instances already share their state (PostgreSQL for the store, Redis
// for the invalidation bus); the embedded engine is one process by design.
//
// The primary serves nothing: it starts one worker first (it migrates and bootstraps the
// store alone), then the others, prints one "listening" line, restarts a worker that dies,
// and on SIGTERM/SIGINT lets every worker drain as a single server would.
import cluster, { type Worker } from 'node:cluster';

/** What a worker tells the primary once it listens. */
export interface WorkerReady {
  kind: 'agentmem:listening';
  url: string;
  store: string;
  generatedAdminKey?: string;
}

export function workersFrom(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const raw = flag ?? env.AGENTMEM_WORKERS ?? '1';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`AGENTMEM_WORKERS / --workers must be an integer from 1 to 64 (got "${raw}")`);
  if (n > 1 && !env.DATABASE_URL?.startsWith('postgres'))
    throw new Error('--workers above 1 needs DATABASE_URL=postgres://… (the embedded engine is one process)');
  if (n > 1 && !env.REDIS_URL) throw new Error('--workers above 1 needs REDIS_URL (workers keep each other current over the Redis bus)');
  return n;
}

export const isClusterWorker = () => cluster.isWorker;

/** In a worker: tells the primary it listens (instead of printing). */
export function reportReady(ready: Omit<WorkerReady, 'kind'>): void {
  process.send?.({ kind: 'agentmem:listening', ...ready } satisfies WorkerReady);
}

/** The primary: runs until every worker has exited after a signal. */
export async function runPrimary(n: number): Promise<void> {
  let stopping = false;
  const ready = (w: Worker) =>
    new Promise<WorkerReady>((resolve, reject) => {
      w.on('message', (m: WorkerReady) => m?.kind === 'agentmem:listening' && resolve(m));
      w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before listening`)));
    });
  let first: WorkerReady;
  try {
    first = await ready(cluster.fork());
    await Promise.all(Array.from({ length: n - 1 }, () => ready(cluster.fork())));
  } catch (err) {
    console.error(`agentmem: ${(err as Error).message}`);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    process.exit(1);
  }
  console.log(`agentmem listening on ${first.url} (store: ${first.store}; ${n} workers)`);
  if (first.generatedAdminKey) {
    console.log(`\nFirst start: created the platform admin API key. It is shown only this once:\n\n  ${first.generatedAdminKey}\n`);
  }
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    console.error(`agentmem: worker ${w.process.pid} exited (${signal ?? code}); starting another`);
    setTimeout(() => cluster.fork(), 1_000).unref();
  });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      if (stopping) {
        // A second signal: at once, as a single server does.
        for (const w of workers) w.process.kill('SIGKILL');
        return resolve();
      }
      console.log(`agentmem: ${signal}, draining ${workers.length} workers`);
      stopping = true;
      // As a message, not a signal: a worker that got the terminal's SIGINT itself must not
      // take this one for the second, exit-at-once signal (server/shutdown.ts).
      for (const w of workers) w.send({ kind: 'agentmem:stop', signal });
      if (!workers.length) resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    cluster.on('exit', () => {
      if (stopping && !Object.keys(cluster.workers ?? {}).length) resolve();
    });
  });
}
