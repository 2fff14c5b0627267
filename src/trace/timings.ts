// Per-request stage timings on the monotonic clock. One object per request, filled in
// as the request moves along; its JSON goes to the `metadata`/`done` events and to
// the Prometheus histograms. Milliseconds everywhere; wall-clock time never enters.

import { performance } from 'node:perf_hooks';

/** The stages of the request path, in the order they happen. */
export const STAGES = [
  'auth',
  'agent',
  'history',
  'recall',
  'recall_embed',
  'recall_search',
  'connect',
  'prompt',
  'upstream_ttfb',
  'first_byte',
  'total',
] as const;

export type Stage = (typeof STAGES)[number];

/** ms per stage rounded to 0.001, in STAGES order; `skipped` only when something was. */
export type TimingsJSON = Partial<Record<Stage, number>> & {
  skipped?: Partial<Record<Stage, string>>;
};

export interface Timings {
  /** performance.now() at the start of the request */
  readonly start: number;
  /** Records now − (since ?? start) for stage and returns it (ms). A later mark overwrites. */
  mark(stage: Stage, since?: number): number;
  /** Runs fn and records how long it took, whether it resolved or threw. */
  time<T>(stage: Stage, fn: () => Promise<T>): Promise<T>;
  /** Records that a stage did not run (or was cut off), e.g. skip('recall', 'budget'). */
  skip(stage: Stage, reason: string): void;
  /** The recorded duration, unrounded, if any. */
  get(stage: Stage): number | undefined;
  /** When the stage began (performance.now() clock), if recorded. */
  startOf(stage: Stage): number | undefined;
  toJSON(): TimingsJSON;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

// A class so every request shares one set of methods: marking costs a clock read and a store.
class RequestTimings implements Timings {
  readonly start: number;
  private readonly ms: Partial<Record<Stage, number>> = {};
  private readonly began: Partial<Record<Stage, number>> = {};
  private skipped: Partial<Record<Stage, string>> | undefined;

  constructor(start: number) {
    this.start = start;
  }

  mark(stage: Stage, since: number = this.start): number {
    const elapsed = performance.now() - since;
    this.ms[stage] = elapsed;
    this.began[stage] = since;
    return elapsed;
  }

  async time<T>(stage: Stage, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.ms[stage] = performance.now() - t0;
      this.began[stage] = t0;
    }
  }

  skip(stage: Stage, reason: string): void {
    (this.skipped ??= {})[stage] = reason;
  }

  get(stage: Stage): number | undefined {
    return this.ms[stage];
  }

  startOf(stage: Stage): number | undefined {
    return this.began[stage];
  }

  toJSON(): TimingsJSON {
    const out: TimingsJSON = {};
    for (const stage of STAGES) {
      const v = this.ms[stage];
      if (v !== undefined) out[stage] = round(v);
    }
    if (this.skipped) {
      const skipped: Partial<Record<Stage, string>> = {};
      for (const stage of STAGES) {
        const r = this.skipped[stage];
        if (r !== undefined) skipped[stage] = r;
      }
      out.skipped = skipped;
    }
    return out;
  }
}

export function createTimings(start: number = performance.now()): Timings {
  return new RequestTimings(start);
}
