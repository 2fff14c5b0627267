// The load generator runs in a worker thread: the server and the emulator keep the
// main thread's event loop, the client gets its own (the second core, when there is one).
// `startClient` is the main thread's handle; the bottom half is the worker itself.
import { isMainThread, parentPort } from 'node:worker_threads';
import { spawnWorker } from '../threads.ts';
import { Agent } from 'undici';
import { streamOnce, type Sample, type Target } from './client.ts';
import { Histogram, type HistogramJSON } from './histogram.ts';
import { runSlots } from './load.ts';
import { deltasLost, variedMessage } from './workload.ts';

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
  /** through: each request asks something new (variedMessage), so recall cannot be predicted */
  vary?: boolean;
}

export interface Progress {
  done: number;
  total: number;
  errors: number;
}

/** A soak: `concurrency` slots streaming one request after another until `durationMs` has passed. */
export interface SoakSpec {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  concurrency: number;
  durationMs: number;
  /** the slots continue these sessions (the pool filled before) */
  sessions: string;
  /** the template: frames each stream should carry, and the pacing interval */
  deltas: number;
  intervalMs: number;
}

/** Cumulative soak counters, kept in fixed-size histograms (the worker's heap stays flat). */
export interface SoakStats {
  elapsedMs: number;
  streams: number;
  errors: number;
  errorKinds: string[];
  /** the template's deltas whose text did not arrive (workload.ts deltasLost) */
  framesLost: number;
  /** gaps > 2 × interval */
  stalls: number;
  /** streams with a lost frame or a stall */
  streamsHurt: number;
  ttfb: HistogramJSON;
  gaps: HistogramJSON;
  /** agentmem's own first_byte − upstream_ttfb */
  added: HistogramJSON;
  recall: { predicted: number; fresh: number; budget: number; other: number };
  /** the client worker's own isolate (process.memoryUsage() inside the worker) */
  workerMemory: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
}

type ToWorker = { id: number; spec: PhaseSpec } | { id: number; soak: SoakSpec } | { id: number; close: true };
type FromWorker =
  | { id: number; progress: Progress }
  | { id: number; samples: Sample[] }
  | { id: number; soakStats: SoakStats; final: boolean }
  | { id: number; failed: string };

export interface Client {
  run(spec: PhaseSpec, onProgress?: (p: Progress) => void): Promise<Sample[]>;
  /** runs a soak; onStats gets the cumulative counters about once a second */
  soak(spec: SoakSpec, onStats?: (s: SoakStats) => void): Promise<SoakStats>;
  close(): Promise<void>;
}

/** A request to the worker awaiting its answer, with what it reports on the way. */
interface Pending<T, P> {
  resolve(value: T): void;
  reject(e: Error): void;
  onProgress?: (p: P) => void;
}

export function startClient(): Client {
  const worker = spawnWorker(new URL(import.meta.url));
  // One sequence of ids for both: an id is in one map or the other.
  const phases = new Map<number, Pending<Sample[], Progress>>();
  const soaks = new Map<number, Pending<SoakStats, SoakStats>>();
  let ids = 0;
  worker.on('message', (m: FromWorker) => {
    if ('progress' in m) return phases.get(m.id)?.onProgress?.(m.progress);
    if ('soakStats' in m && !m.final) return soaks.get(m.id)?.onProgress?.(m.soakStats);
    const phase = phases.get(m.id);
    const soak = soaks.get(m.id);
    phases.delete(m.id);
    soaks.delete(m.id);
    if ('samples' in m) phase?.resolve(m.samples);
    else if ('soakStats' in m) soak?.resolve(m.soakStats);
    else (phase ?? soak)?.reject(new Error(m.failed));
  });
  worker.on('error', (err) => {
    for (const p of [...phases.values(), ...soaks.values()]) p.reject(err);
    phases.clear();
    soaks.clear();
  });
  return {
    run(spec, onProgress) {
      const id = ++ids;
      return new Promise((resolve, reject) => {
        phases.set(id, { resolve, reject, onProgress });
        worker.postMessage({ id, spec } satisfies ToWorker);
      });
    },
    soak(spec, onStats) {
      const id = ++ids;
      return new Promise((resolve, reject) => {
        soaks.set(id, { resolve, reject, onProgress: onStats });
        worker.postMessage({ id, soak: spec } satisfies ToWorker);
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
  let varied = 0;

  async function phase(id: number, spec: PhaseSpec): Promise<Sample[]> {
    const sessions = spec.sessions ? (pools.get(spec.sessions) ?? []) : undefined;
    if (spec.sessions && sessions) pools.set(spec.sessions, sessions);
    const once = async (slot: number): Promise<Sample> => {
      const session = sessions ? (sessions[slot] ??= { turns: 0 }) : undefined;
      let body = session?.id ? { ...spec.body, session_id: session.id } : spec.body;
      if (spec.vary) body = { ...body, message: variedMessage(varied++) };
      const sample = await streamOnce(dispatcher, {
        url: spec.url,
        headers: spec.headers,
        body: JSON.stringify(body),
        target: spec.target,
        recordGaps: spec.recordGaps,
      });
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

  async function soak(id: number, spec: SoakSpec): Promise<SoakStats> {
    const sessions = pools.get(spec.sessions) ?? [];
    pools.set(spec.sessions, sessions);
    const ttfb = new Histogram();
    const gaps = new Histogram();
    const added = new Histogram();
    const recall = { predicted: 0, fresh: 0, budget: 0, other: 0 };
    const kinds = new Set<string>();
    let streams = 0;
    let errors = 0;
    let framesLost = 0;
    let stalls = 0;
    let streamsHurt = 0;
    const t0 = performance.now();
    const end = t0 + spec.durationMs;
    const stats = (): SoakStats => {
      const mu = process.memoryUsage();
      return {
        elapsedMs: performance.now() - t0,
        streams,
        errors,
        errorKinds: [...kinds],
        framesLost,
        stalls,
        streamsHurt,
        ttfb: ttfb.toJSON(),
        gaps: gaps.toJSON(),
        added: added.toJSON(),
        recall: { ...recall },
        workerMemory: { heapUsed: mu.heapUsed, heapTotal: mu.heapTotal, external: mu.external, arrayBuffers: mu.arrayBuffers },
      };
    };
    const ticker = setInterval(() => port.postMessage({ id, soakStats: stats(), final: false } satisfies FromWorker), 1000);
    const slot = async (s: number) => {
      while (performance.now() < end) {
        const session = (sessions[s] ??= { turns: 0 });
        const body = session.id ? { ...spec.body, session_id: session.id } : spec.body;
        const sample = await streamOnce(dispatcher, { url: spec.url, headers: spec.headers, body: JSON.stringify(body), target: 'through', recordGaps: true });
        if (sample.sessionId) {
          session.id = sample.sessionId;
          session.turns++;
        }
        streams++;
        if (!sample.ok) {
          errors++;
          if (kinds.size < 5) kinds.add(sample.error ?? 'unknown');
        }
        if (sample.ttfb !== undefined) ttfb.record(sample.ttfb);
        let stalled = false;
        for (const g of sample.gaps ?? []) {
          gaps.record(g);
          if (g > 2 * spec.intervalMs) {
            stalls++;
            stalled = true;
          }
        }
        const lost = deltasLost(sample.bytes, spec.deltas);
        framesLost += lost;
        if (lost || stalled) streamsHurt++;
        const t = sample.timings;
        if (t) {
          if (t.first_byte !== undefined && t.upstream_ttfb !== undefined) added.record(t.first_byte - t.upstream_ttfb);
          if (t.skipped?.recall_search === 'predicted') recall.predicted++;
          else if (t.skipped?.recall === 'budget') recall.budget++;
          else if (t.skipped?.recall === undefined && t.recall_search !== undefined) recall.fresh++;
          else recall.other++;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: spec.concurrency }, (_, s) => slot(s)));
    } finally {
      clearInterval(ticker);
    }
    return stats();
  }

  port.on('message', (m: ToWorker) => {
    if ('close' in m) {
      void dispatcher.close().finally(() => process.exit(0));
      return;
    }
    if ('soak' in m) {
      soak(m.id, m.soak).then(
        (s) => port.postMessage({ id: m.id, soakStats: s, final: true } satisfies FromWorker),
        (err: Error) => port.postMessage({ id: m.id, failed: err.stack ?? err.message } satisfies FromWorker),
      );
      return;
    }
    phase(m.id, m.spec).then(
      (samples) => port.postMessage({ id: m.id, samples } satisfies FromWorker),
      (err: Error) => port.postMessage({ id: m.id, failed: err.stack ?? err.message } satisfies FromWorker),
    );
  });
}
