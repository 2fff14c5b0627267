// The benchmark: the seed's experiment rerun on this machine. The same chat goes to the
// emulator directly and through agentmem, at each concurrency; the client measures
// time to first content and every gap between deltas, agentmem reports its stages.
//
// Per level: fill the slots' sessions to a full history window (unmeasured, instant
// pacing) → direct → through (TTFB runs, the profile's pacing) → direct → through
// (gap runs: 64 deltas of 16 bytes every 20 ms).
import { machineInfo } from './machine.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProfileName } from '../emulator/server.ts';
import type { Certificate } from '../emulator/tls.ts';
import { PROFILES } from '../emulator/profiles.ts';
import { STAGES } from '../trace/timings.ts';
import type { TimingsJSON } from '../trace/timings.ts';
import type { Sample } from './client.ts';
import type { OurStage } from './seed-table.ts';
import type { PromptSize } from './emulator-thread.ts';
import { startFloor } from './floor.ts';
import { measurePhase, type PhaseResources } from './resources.ts';
import { createBenchAgent, seedMemories, setBaseUrl, startWorld, type SeedResult } from './setup.ts';
import { summarize, type Summary } from './stats.ts';
import { startClient, type PhaseSpec, type Progress } from './worker.ts';
import { optionPath } from '../emulator/options.ts';
import {
  CHAT_MESSAGE,
  DELTA_BYTES,
  DELTAS,
  deltasLost,
  directMessages,
  TEMPLATE_INTERVAL_MS,
  TEMPLATE_RATE,
  TEMPLATE_TEXT,
  WORKING_MEMORY,
} from './workload.ts';

export interface BenchOptions {
  profile: ProfileName;
  concurrency: number[];
  /** per level; default by profile (see defaultRequests) */
  requests?: number;
  /** memory:// (default) or postgres://… (a throwaway database is made next to it) */
  database?: string;
  memories: number;
  /** turns each session has before it is measured (5 turns = a full window of 10) */
  fillTurns: number;
  /** the agent's history window, messages (default 10) */
  window?: number;
  /** working memory on, a profile block in every prompt */
  workingMemory?: boolean;
  /** the bench agent's memory.embedder (default local: lexical recall) */
  embedder?: 'local' | 'local-neural';
  gaps: boolean;
  /** the measured through requests ask a new, unrelated question each time (the pool cannot answer) */
  vary?: boolean;
  /** the emulator serves HTTPS with this certificate (this process must trust it: NODE_EXTRA_CA_CERTS) */
  tls?: Certificate;
  /** the emulator's network round trip, ms (handshakes included) */
  rttMs?: number;
  /** progress text, `\r`-style: the caller decides where it goes */
  progress?: (line: string, final?: boolean) => void;
}

export interface SideResult {
  requests: number;
  errors: number;
  /** the first few distinct error messages */
  errorKinds: string[];
  ttfb: Summary;
  total: Summary;
  /** TCP connections the emulator accepted during this side's phase: the client's (direct) or agentmem's (through) */
  upstreamConnections: { opened: number; perTurn: number };
  /** CPU per turn of this process, all threads (client, emulator and server alike), background work included, ms */
  cpuPerTurnMs: number;
  /** CPU per turn of the PostgreSQL server's processes, ms (PostgreSQL runs only; other users of it count too) */
  postgresCpuPerTurnMs?: number;
  /** main-thread event-loop delay while the phase ran (agentmem and the emulator share that thread), ms */
  loopDelay: PhaseResources['loopDelay'];
}

export interface GapResult {
  streams: number;
  intervalMs: number;
  direct: GapSide;
  through: GapSide;
  /** through gap p99 − direct gap p99 */
  addedP99: number;
  addedP50: number;
  /** main-thread event-loop delay while the paced streams ran (the emulator has a thread of its own) */
  loopDelay?: { direct: PhaseResources['loopDelay']; through: PhaseResources['loopDelay'] };
}

export interface GapSide {
  gaps: Summary;
  errors: number;
  /** the template's deltas (64 per stream) whose text was not seen (by the text: a frame that carries two lost none); bytes likewise */
  framesLost: number;
  bytesLost: number;
  /** gaps longer than 2× the interval */
  stalls: number;
  /** streams with at least one lost frame or stall */
  streamsHurt: number;
}

export interface RecallSource {
  /** requests with timings (the denominator) */
  requests: number;
  /** `skipped.recall_search === 'predicted'`: ranked in process from the pool */
  predicted: number;
  /** the fresh hybrid search ran and answered within the budget */
  fresh: number;
  /** `skipped.recall === 'budget'`: the search missed the budget, no memories */
  budget: number;
  /** `skipped.recall === 'error'` or no recall recorded */
  other: number;
  /** per stage, for the requests of each group */
  stages: { predicted: Partial<Record<OurStage, Summary>>; fresh: Partial<Record<OurStage, Summary>>; budget: Partial<Record<OurStage, Summary>> };
}

export interface LevelResult {
  concurrency: number;
  direct: SideResult;
  /** the floor proxy (floor.ts): a plain Node hop, keep-alive upstream, SSE re-encoded, nothing else */
  floor: SideResult;
  through: SideResult & {
    /** per stage from the `done` events, ms; `added` = first_byte − upstream_ttfb */
    stages: Partial<Record<OurStage, Summary>>;
    /** stage → reason → count, e.g. recall: {budget: 3} */
    skipped: Record<string, Record<string, number>>;
    /** who served recall: the predictive pool, the fresh search, or nobody (budget, error, off) */
    recallSource: RecallSource;
    /** what agentmem sent upstream on the phase's last chat request: messages and characters of the prompt */
    prompt?: PromptSize;
  };
  overhead: {
    /** through − direct, percentile by percentile */
    p50: number;
    p99: number;
    /** agentmem's own figure per request: first_byte − upstream_ttfb */
    added: Summary;
    /** the floor's own overhead (floor − direct), and agentmem's beyond it (through − floor) */
    floor: { p50: number; p99: number };
    beyondFloor: { p50: number; p99: number };
    /** CPU per turn agentmem adds: through − direct, and the floor's: floor − direct, ms */
    cpuPerTurnMs: { through: number; floor: number };
  };
  gaps?: GapResult;
}

export interface BenchResult {
  tool: 'agentmem bench';
  date: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; memoryGb: number; loadavg: number[] };
  engine: string;
  store: string;
  profile: ProfileName;
  profileSettings: (typeof PROFILES)[ProfileName];
  memories: SeedResult;
  template: { deltas: number; bytes: number; intervalMs: number };
  options: {
    concurrency: number[];
    requests: Record<number, number>;
    fillTurns: number;
    window: number;
    workingMemory: boolean;
    vary: boolean;
    tls: boolean;
    rttMs: number;
  };
  levels: LevelResult[];
  /** the highest concurrency run whose gap streams had no error, no lost frame and no stall (undefined: none) */
  sustained?: { through?: number; direct?: number; levels: number[] };
  durationMs: number;
}

export function defaultRequests(profile: ProfileName, c: number): number {
  if (profile === 'glm-4') return Math.max(2, c);
  if (profile === 'glm-4-flash') return Math.max(20, 2 * c);
  return Math.max(200, 4 * c);
}

const gapStreams = (c: number) => Math.max(5, c);
const SETTLE_MS = 300;

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const say = opts.progress ?? (() => {});
  say('starting the emulator and agentmem…');
  const world = await startWorld({ database: opts.database, profile: opts.profile, network: { tls: opts.tls, rttMs: opts.rttMs } });
  const client = startClient();
  let measured = '';
  const floor = await startFloor(() => measured);
  try {
    const emu = world.emulator.url;
    // fill: instant answers, so filling windows costs no model time; measure: the
    // profile's pacing; gaps: the streaming template's pacing
    const fillBase = `${emu}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: 0 })}/v1`;
    const measureBase = `${emu}${optionPath({ text: TEMPLATE_TEXT })}/v1`;
    measured = measureBase;
    const gapBase = `${emu}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: TEMPLATE_RATE })}/v1`;
    const agent = await createBenchAgent(world, fillBase, { window: opts.window, workingMemory: opts.workingMemory, embedder: opts.embedder });
    let current = fillBase;
    const pointAt = async (base: string) => {
      if (base !== current) await setBaseUrl(world, agent, base);
      current = base;
    };

    say(`seeding ${opts.memories} memories…`);
    const memories: SeedResult =
      opts.memories > 0
        ? await seedMemories(world, agent, opts.memories, (n) => say(`seeding memories ${n}/${opts.memories}`))
        : { seeded: 0, skipped: '--memories 0' };
    if ('skipped' in memories) say(`NOTE: memories not seeded: ${memories.skipped}`, true);

    const directBody = {
      model: 'gpt-emu',
      messages: directMessages(Math.floor((opts.window ?? 10) / 2), 5, opts.workingMemory ? WORKING_MEMORY : undefined),
      stream: true,
      stream_options: { include_usage: true },
    };
    const directHeaders = { authorization: 'Bearer sk-bench' };
    const throughUrl = `${world.app.url}/api/v1/agents/${agent.id}/chat/stream`;
    const throughHeaders = { authorization: `Bearer ${world.adminKey}` };
    const throughBody = { message: CHAT_MESSAGE, user_id: agent.userId };
    const direct = (base: string, c: number, n: number, recordGaps: boolean): PhaseSpec => ({
      target: 'direct',
      url: `${base}/chat/completions`,
      headers: directHeaders,
      body: directBody,
      concurrency: c,
      requests: n,
      recordGaps,
    });
    const floorSpec = (c: number, n: number): PhaseSpec => ({
      target: 'floor',
      url: `${floor.url}/chat`,
      headers: directHeaders,
      body: directBody,
      concurrency: c,
      requests: n,
      recordGaps: false,
    });
    const through = (c: number, n: number, recordGaps: boolean): PhaseSpec => ({
      target: 'through',
      url: throughUrl,
      headers: throughHeaders,
      body: throughBody,
      concurrency: c,
      requests: n,
      recordGaps,
      sessions: 'bench',
      vary: Boolean(opts.vary) && n > 0,
    });
    // a short pause before each phase lets the previous one's stores and timers drain
    // Per phase, the connections the emulator accepted: only one side talks to it at a time.
    // and what the phase cost (CPU until quiet after it, event-loop delay during it).
    const opened = new WeakMap<Sample[], number>();
    const costs = new WeakMap<Sample[], PhaseResources>();
    const run = async (label: string, spec: PhaseSpec) => {
      // the emulator's record of requests served (a test aid) is read only for the prompt's size: drop it
      await world.emulator.reset();
      await sleep(SETTLE_MS);
      const before = await world.emulator.connections();
      const phase = measurePhase(world.engine === 'postgres');
      const samples = await client.run(spec, (p: Progress) => say(`${label} ${p.done}/${p.total}${p.errors ? ` errors ${p.errors}` : ''}`));
      opened.set(samples, (await world.emulator.connections()) - before);
      costs.set(samples, await phase.stop());
      return samples;
    };

    const requests: Record<number, number> = {};
    const levels: LevelResult[] = [];
    for (const c of opts.concurrency) {
      const n = (requests[c] = opts.requests ?? defaultRequests(opts.profile, c));
      const tag = `c=${c}`;
      await pointAt(fillBase);
      await run(`${tag} filling session windows`, { ...through(c, 0, false), fillTurns: opts.fillTurns });
      await run(`${tag} warming up direct`, direct(fillBase, c, Math.min(2 * c, 64), false));

      await pointAt(measureBase);
      const d = await run(`${tag} direct`, direct(measureBase, c, n, false));
      const f = await run(`${tag} floor`, floorSpec(c, n));
      const t = await run(`${tag} through`, through(c, n, false));
      const prompt = await world.emulator.lastPrompt();
      const level = measureLevel(c, d, f, t, (s) => ({ opened: opened.get(s) ?? 0, cost: costs.get(s)! }));
      if (prompt) level.through.prompt = prompt;

      if (opts.gaps) {
        await pointAt(gapBase);
        const g = gapStreams(c);
        const gd = await run(`${tag} gaps direct`, direct(gapBase, c, g, true));
        const gt = await run(`${tag} gaps through`, through(c, g, true));
        level.gaps = { ...measureGaps(gd, gt), loopDelay: { direct: costs.get(gd)!.loopDelay, through: costs.get(gt)!.loopDelay } };
      }
      levels.push(level);
      say(`${tag} done: overhead p50 ${level.overhead.p50.toFixed(3)} ms, p99 ${level.overhead.p99.toFixed(3)} ms`, true);
    }

    return {
      tool: 'agentmem bench',
      date: new Date().toISOString(),
      machine: machineInfo(),
      engine: world.engine,
      store: world.store,
      profile: opts.profile,
      profileSettings: PROFILES[opts.profile],
      memories,
      template: { deltas: DELTAS, bytes: DELTA_BYTES, intervalMs: TEMPLATE_INTERVAL_MS },
      options: {
        concurrency: opts.concurrency,
        requests,
        fillTurns: opts.fillTurns,
        window: opts.window ?? 10,
        workingMemory: Boolean(opts.workingMemory),
        vary: Boolean(opts.vary),
        tls: Boolean(opts.tls),
        rttMs: opts.rttMs ?? 0,
      },
      levels,
      sustained: sustainedStreams(levels),
      durationMs: performance.now() - started,
    };
  } finally {
    say('stopping…');
    await client.close();
    await floor.close();
    await world.close();
  }
}

type PhaseOf = (samples: Sample[]) => { opened: number; cost: PhaseResources };

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

function measureLevel(c: number, directSamples: Sample[], floorSamples: Sample[], throughSamples: Sample[], phase: PhaseOf): LevelResult {
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

function measureGaps(directSamples: Sample[], throughSamples: Sample[]): GapResult {
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
