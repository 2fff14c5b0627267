// The load generator runs in a worker thread: the server and the emulator keep the
// main thread's event loop, the client gets its own (the second core, when there is one).
// `startClient` is the main thread's handle; the bottom half is the worker itself.
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { Agent } from 'undici';
import { streamOnce, type Sample, type Target } from './client.ts';
import { runSlots } from './load.ts';

export interface PhaseSpec {
  target: Target;
  url: string;
  headers: Record<string, string>;
  /** direct: the whole body; through: `{message, user_id}`, plus the slot's session_id */
  body: Record<string, unknown>;
  concurrency: number;
  requests: number;
  recordGaps: boolean;
  /** through: slot i continues session i of this named pool (started on first use) */
  sessions?: string;
  /** instead of `requests`: bring each slot's session to this many turns (unmeasured) */
  fillTurns?: number;
}

export interface Progress {
  done: number;
  total: number;
  errors: number;
}

type ToWorker = { id: number; spec: PhaseSpec } | { id: number; close: true };
type FromWorker = { id: number; progress: Progress } | { id: number; samples: Sample[] } | { id: number; failed: string };

export interface Client {
  run(spec: PhaseSpec, onProgress?: (p: Progress) => void): Promise<Sample[]>;
  close(): Promise<void>;
}

export function startClient(): Client {
  // tsx's loader is registered per thread: the worker registers it, then loads this file.
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  const worker = new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`,
    { eval: true },
  );
  const pending = new Map<number, { resolve(s: Sample[]): void; reject(e: Error): void; onProgress?: (p: Progress) => void }>();
  let ids = 0;
  worker.on('message', (m: FromWorker) => {
    const p = pending.get(m.id);
    if (!p) return;
    if ('progress' in m) return p.onProgress?.(m.progress);
    pending.delete(m.id);
    if ('samples' in m) p.resolve(m.samples);
    else p.reject(new Error(m.failed));
  });
  worker.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  return {
    run(spec, onProgress) {
      const id = ++ids;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, onProgress });
        worker.postMessage({ id, spec } satisfies ToWorker);
      });
    },
    async close() {
      worker.postMessage({ id: 0, close: true } satisfies ToWorker);
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

// ---- the worker ----

if (!isMainThread && parentPort) {
  const port = parentPort;
  // Enough connections per origin for every slot at once; streams may be silent for long.
  const dispatcher = new Agent({ connections: 1024, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0 });
  const pools = new Map<string, Array<{ id?: string; turns: number }>>();

  async function phase(id: number, spec: PhaseSpec): Promise<Sample[]> {
    const sessions = spec.sessions ? pools.get(spec.sessions) ?? [] : undefined;
    if (spec.sessions && sessions) pools.set(spec.sessions, sessions);
    const once = async (slot: number): Promise<Sample> => {
      const session = sessions ? (sessions[slot] ??= { turns: 0 }) : undefined;
      const body = session?.id ? { ...spec.body, session_id: session.id } : spec.body;
      const sample = await streamOnce(dispatcher, { url: spec.url, headers: spec.headers, body: JSON.stringify(body), target: spec.target, recordGaps: spec.recordGaps });
      if (session && sample.sessionId) {
        session.id = sample.sessionId;
        session.turns++;
      }
      return sample;
    };

    let total = spec.requests;
    let todo: number[] = [];
    if (spec.fillTurns !== undefined && sessions) {
      // slot s runs todo[s] turns, one after another
      todo = Array.from({ length: spec.concurrency }, (_, s) => Math.max(0, spec.fillTurns! - (sessions[s]?.turns ?? 0)));
      total = todo.reduce((a, b) => a + b, 0);
    }
    let errors = 0;
    let lastPost = 0;
    const settled = (done: number, s: Sample) => {
      if (!s.ok) errors++;
      const now = performance.now();
      if (now - lastPost > 100 || done === total) {
        lastPost = now;
        port.postMessage({ id, progress: { done, total, errors } } satisfies FromWorker);
      }
    };
    if (spec.fillTurns === undefined) return runSlots(spec.concurrency, total, (slot) => once(slot), settled);

    const out: Sample[] = [];
    let done = 0;
    await Promise.all(
      todo.map(async (n, slot) => {
        for (let i = 0; i < n; i++) {
          const s = await once(slot);
          out.push(s);
          settled(++done, s);
        }
      }),
    );
    return out;
  }

  port.on('message', (m: ToWorker) => {
    if ('close' in m) {
      void dispatcher.close().finally(() => process.exit(0));
      return;
    }
    phase(m.id, m.spec).then(
      (samples) => port.postMessage({ id: m.id, samples } satisfies FromWorker),
      (err: Error) => port.postMessage({ id: m.id, failed: err.stack ?? err.message } satisfies FromWorker),
    );
  });
}
