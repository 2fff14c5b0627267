// The seed report's stage costs (lumosai-sse-performance-report.zh.md, "完整调用链路分析")
// beside the agentmem stages that do the same job. Stage names are those of
// src/trace/timings.ts; `added` is computed per request (see DerivedStage).
import type { Stage } from '../trace/timings.ts';

/** first_byte − upstream_ttfb: everything agentmem itself spends before the first byte. */
export type DerivedStage = 'added';
export type OurStage = Stage | DerivedStage;

export interface SeedRow {
  /** the seed's stage */
  seed: string;
  /** its cost in the seed report, ms */
  seedMs: [number, number];
  /** the agentmem stages doing that job; empty when it is gone from the path */
  ours: OurStage[];
  /** what agentmem does instead */
  note: string;
}

export const SEED_ROWS: SeedRow[] = [
  { seed: 'HTTP routing', seedMs: [5, 10], ours: ['auth'], note: 'auth = onRequest → principal; routing itself is before the clock starts' },
  { seed: 'agent lookup', seedMs: [5, 10], ours: ['agent'], note: 'agent cache (map lookup); the org check is part of it' },
  { seed: 'permission check', seedMs: [1, 5], ours: [], note: 'inside auth (cached key → principal) and agent (org match)' },
  { seed: 'agent factory', seedMs: [20, 50], ours: [], note: 'built once per agent change, cached: inside agent' },
  { seed: 'streaming wrapper', seedMs: [2, 5], ours: [], note: 'gone: no per-request wrapper' },
  {
    seed: 'memory retrieve',
    seedMs: [50, 300],
    ours: ['history', 'recall', 'recall_embed', 'recall_search'],
    note: 'recall runs beside connect, 150 ms budget',
  },
  { seed: 'LLM request setup', seedMs: [60, 220], ours: ['connect', 'prompt'], note: 'keep-alive pool, warmed during recall' },
  { seed: 'first token', seedMs: [1500, 30000], ours: ['upstream_ttfb'], note: 'request sent → first content delta parsed (the model)' },
  { seed: 'SSE parse', seedMs: [5, 20], ours: [], note: 'inside upstream_ttfb (the first chunk) and added' },
  { seed: 'text buffer', seedMs: [0, 100], ours: [], note: 'size 1 flushes each delta at once: inside added' },
  { seed: 'event → SSE', seedMs: [5, 15], ours: [], note: 'JSON + frame write right after first_byte' },
  {
    seed: 'framework overhead (TTFB through − direct)',
    seedMs: [300, 300],
    ours: ['added', 'first_byte'],
    note: 'added = first_byte − upstream_ttfb, per request',
  },
];

/** The seed's headline: TTFB direct vs. through its framework (best result after tuning). */
export const SEED_HEADLINE = { directMs: 1500, throughMs: 1800, overheadMs: 300, beforeTuningMs: 8800 };
