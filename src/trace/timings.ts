// Per-request stage timings on the monotonic clock. One object per request, filled in
// as the request moves along; its JSON goes to the `metadata`/`done` events and to
// the Prometheus histograms. Milliseconds everywhere; wall-clock time never enters.

import { performance } from 'node:perf_hooks';

/** The stages of the request path, in the order they happen. */
export const STAGES = [
  'auth',
  // auth → the handler: body read and parsed, validated, rate-limited
  'route',
  'agent',
  'history',
  'recall',
  'recall_embed',
  'recall_search',
  'connect',
  'prompt',
  'upstream_ttfb',
  // request sent → the first reasoning token of a thinking model (beside the path: the answer's first byte is what counts)
  'first_reasoning',
  // the first upstream part → the first byte to the client: the text buffer's hold
  // (and any tool steps before the first text)
  'buffer',
  'first_byte',
  'total',
] as const;

export type Stage = (typeof STAGES)[number];

/**
 * Not on the critical path as themselves: totals measured from the start, and the
 * sub-stages of recall (recall is, as a whole).
 */
const NOT_ON_PATH: ReadonlySet<Stage> = new Set(['first_byte', 'total', 'recall_embed', 'recall_search', 'first_reasoning']);

/**
 * ms per stage rounded to 0.001, in STAGES order; `skipped` only when something was;
 * `critical_path` once the first byte went out (see criticalPath).
 */
export type TimingsJSON = Partial<Record<Stage, number>> & {
  skipped?: Partial<Record<Stage, string>>;
  critical_path?: Array<[Stage, number]>;
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
  /** When the stage ended (performance.now() clock), if recorded. */
  endOf(stage: Stage): number | undefined;
  /** The stages the first byte waited for, in order (see criticalPath); [] before it. */
  criticalPath(): Array<[Stage, number]>;
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

  endOf(stage: Stage): number | undefined {
    const ms = this.ms[stage];
    return ms === undefined ? undefined : this.began[stage]! + ms;
  }

  criticalPath(): Array<[Stage, number]> {
    const end = this.endOf('first_byte');
    if (end === undefined) return [];
    const spans: Span[] = [];
    for (const stage of STAGES) {
      const e = this.endOf(stage);
      if (e !== undefined && !NOT_ON_PATH.has(stage)) spans.push({ stage, begin: this.began[stage]!, end: e });
    }
    return criticalPath(spans, this.start, end);
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
    const path = this.criticalPath();
    if (path.length) out.critical_path = path.map(([stage, ms]) => [stage, round(ms)]);
    return out;
  }
}

export function createTimings(start: number = performance.now()): Timings {
  return new RequestTimings(start);
}

export interface Span {
  stage: Stage;
  begin: number;
  end: number;
}

/**
 * The chain of stages that `end` waited for, from `start`: walking back from `end`, the
 * stage that finished last before the cursor is the one the next waited for (of
 * history ‖ recall ‖ connect, the one that finished last), and the cursor moves to its
 * beginning. Each stage on the chain is charged from the end of the one before it (the
 * first from `start`, the last up to `end`), so the chain adds up to end − start
 * exactly: the few µs of glue between two stages go to the later one, and a stage
 * that began after the one before it ended would show as longer than itself, never as
 * time that belongs to no stage.
 */
export function criticalPath(spans: readonly Span[], start: number, end: number): Array<[Stage, number]> {
  const chain: Span[] = [];
  let cursor = end;
  for (;;) {
    let last: Span | undefined;
    for (const s of spans) {
      // ends by the cursor, and is not the cursor's own stage begun at it
      if (s.end <= cursor && s.begin < cursor && (!last || s.end > last.end)) last = s;
    }
    if (!last || last.end <= start) break;
    chain.push(last);
    cursor = last.begin;
  }
  chain.reverse();
  const out: Array<[Stage, number]> = [];
  let from = start;
  chain.forEach((s, i) => {
    const to = i === chain.length - 1 ? end : s.end;
    out.push([s.stage, to - from]);
    from = to;
  });
  return out;
}
