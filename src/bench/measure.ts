// The pure part of the bench: samples in, figures out. Per side its TTFB and totals, errors,
// connections and CPU per turn; through agentmem its stages and who served recall; the gap
// streams' lost frames and stalls. No I/O, no clock: run.ts measures, this counts.
import type { TimingsJSON } from '../trace/timings.ts';
import { STAGES } from '../trace/timings.ts';
import type { Sample } from './client.ts';
import type { PhaseResources } from './resources.ts';
import type { BenchResult, GapResult, GapSide, LevelResult, RecallSource, SideResult } from './result.ts';
import type { OurStage } from './seed-table.ts';
import { summarize, type Summary } from './stats.ts';
import { DELTA_BYTES, DELTAS, deltasLost, TEMPLATE_INTERVAL_MS } from './workload.ts';

/** What a phase cost beside its samples: the connections the emulator accepted, CPU and loop delay. */
export type PhaseOf = (samples: Sample[]) => { opened: number; cost: PhaseResources };

function side(samples: Sample[], { opened, cost }: ReturnType<PhaseOf>): SideResult {
  const ok = samples.filter((s) => s.ok);
  const kinds = new Set<string>();
  for (const s of samples) if (!s.ok && kinds.size < 5) kinds.add(s.error ?? 'unknown');
  return {
    requests: samples.length,
    errors: samples.length - ok.length,
    errorKinds: [...kinds],
    ttfb: summarize(ok.map((s) => s.ttfb!)),
    total: summarize(ok.map((s) => s.total!)),
    upstreamConnections: { opened, perTurn: samples.length ? opened / samples.length : 0 },
    cpuPerTurnMs: samples.length ? cost.cpuMs / samples.length : 0,
    ...(cost.postgresCpuMs !== undefined && samples.length ? { postgresCpuPerTurnMs: cost.postgresCpuMs / samples.length } : {}),
    loopDelay: cost.loopDelay,
  };
}

export function measureLevel(c: number, directSamples: Sample[], floorSamples: Sample[], throughSamples: Sample[], phase: PhaseOf): LevelResult {
  const d = side(directSamples, phase(directSamples));
  const f = side(floorSamples, phase(floorSamples));
  const t = side(throughSamples, phase(throughSamples));
  const timed = throughSamples.filter((s) => s.ok && s.timings);
  const stages = stageSummaries(timed);
  const added = stages.added!;
  const skipped: Record<string, Record<string, number>> = {};
  for (const s of timed) {
    for (const [stage, reason] of Object.entries(s.timings!.skipped ?? {})) {
      const bucket = (skipped[stage] ??= {});
      bucket[reason!] = (bucket[reason!] ?? 0) + 1;
    }
  }
  const groups: Record<'predicted' | 'fresh' | 'budget' | 'other', Sample[]> = { predicted: [], fresh: [], budget: [], other: [] };
  for (const s of timed) groups[recallGroup(s.timings!)].push(s);
  const recallSource: RecallSource = {
    requests: timed.length,
    predicted: groups.predicted.length,
    fresh: groups.fresh.length,
    budget: groups.budget.length,
    other: groups.other.length,
    stages: { predicted: stageSummaries(groups.predicted), fresh: stageSummaries(groups.fresh), budget: stageSummaries(groups.budget) },
  };
  return {
    concurrency: c,
    direct: d,
    floor: f,
    through: { ...t, stages, skipped, recallSource },
    overhead: {
      p50: t.ttfb.p50 - d.ttfb.p50,
      p99: t.ttfb.p99 - d.ttfb.p99,
      added,
      floor: { p50: f.ttfb.p50 - d.ttfb.p50, p99: f.ttfb.p99 - d.ttfb.p99 },
      beyondFloor: { p50: t.ttfb.p50 - f.ttfb.p50, p99: t.ttfb.p99 - f.ttfb.p99 },
      cpuPerTurnMs: { through: t.cpuPerTurnMs - d.cpuPerTurnMs, floor: f.cpuPerTurnMs - d.cpuPerTurnMs },
    },
  };
}

/** Per stage over these samples, plus `added` = first_byte − upstream_ttfb per request. */
function stageSummaries(timed: Sample[]): Partial<Record<OurStage, Summary>> {
  const stages: Partial<Record<OurStage, Summary>> = {};
  if (!timed.length) return stages;
  for (const stage of STAGES) {
    const values = timed.map((s) => s.timings![stage]).filter((v): v is number => v !== undefined);
    if (values.length) stages[stage] = summarize(values);
  }
  stages.added = summarize(
    timed
      .filter((s) => s.timings!.first_byte !== undefined && s.timings!.upstream_ttfb !== undefined)
      .map((s) => s.timings!.first_byte! - s.timings!.upstream_ttfb!),
  );
  return stages;
}

/** Who served this request's recall (see memory/predictive.ts and memory/recall.ts). */
export function recallGroup(t: TimingsJSON): 'predicted' | 'fresh' | 'budget' | 'other' {
  if (t.skipped?.recall_search === 'predicted') return 'predicted';
  if (t.skipped?.recall === 'budget') return 'budget';
  if (t.skipped?.recall === undefined && t.recall_search !== undefined) return 'fresh';
  return 'other';
}

/** Highest level whose gap streams ran with no error, no lost frame, no stall, per side. */
export function sustainedStreams(levels: LevelResult[]): BenchResult['sustained'] {
  const withGaps = levels.filter((l) => l.gaps);
  if (!withGaps.length) return undefined;
  const clean = (g: GapSide) => g.errors === 0 && g.framesLost === 0 && g.stalls === 0;
  const best = (pick: (r: GapResult) => GapSide) => {
    const ok = withGaps.filter((l) => clean(pick(l.gaps!))).map((l) => l.gaps!.streams);
    return ok.length ? Math.max(...ok) : undefined;
  };
  return { through: best((g) => g.through), direct: best((g) => g.direct), levels: withGaps.map((l) => l.gaps!.streams) };
}

function gapSide(samples: Sample[]): GapSide {
  const gaps = samples.flatMap((s) => s.gaps ?? []);
  let framesLost = 0;
  let bytesLost = 0;
  for (const s of samples) {
    framesLost += deltasLost(s.bytes);
    bytesLost += Math.max(0, DELTAS * DELTA_BYTES - s.bytes);
  }
  const stall = (g: number) => g > 2 * TEMPLATE_INTERVAL_MS;
  return {
    gaps: summarize(gaps),
    errors: samples.filter((s) => !s.ok).length,
    framesLost,
    bytesLost,
    stalls: gaps.filter(stall).length,
    streamsHurt: samples.filter((s) => s.frames < DELTAS || (s.gaps ?? []).some(stall)).length,
  };
}

export function measureGaps(directSamples: Sample[], throughSamples: Sample[]): GapResult {
  const direct = gapSide(directSamples);
  const through = gapSide(throughSamples);
  return {
    streams: directSamples.length,
    intervalMs: TEMPLATE_INTERVAL_MS,
    direct,
    through,
    addedP50: through.gaps.p50 - direct.gaps.p50,
    addedP99: through.gaps.p99 - direct.gaps.p99,
  };
}
