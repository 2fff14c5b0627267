// The benchmark: the seed's experiment rerun on this machine. The same chat goes to the
// emulator directly and through agentmem, at each concurrency; the client measures
// time to first content and every gap between deltas, agentmem reports its stages.
//
// Per level: fill the slots' sessions to a full history window (unmeasured, instant
// pacing) → direct → through (TTFB runs, the profile's pacing) → direct → through
// (gap runs: 64 deltas of 16 bytes every 20 ms).
//
// This file is the orchestration; the figures are counted in measure.ts, and the result's
// shape is result.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { scopeCheckOn } from '../config.ts';
import type { ProfileName } from '../emulator/server.ts';
import { optionPath } from '../emulator/options.ts';
import { PROFILES } from '../emulator/profiles.ts';
import type { Sample } from './client.ts';
import { startFloor } from './floor.ts';
import { machineInfo } from './machine.ts';
import { measureGaps, measureLevel, sustainedStreams } from './measure.ts';
import { measurePhase, type PhaseResources } from './resources.ts';
import type { BenchOptions, BenchResult, LevelResult } from './result.ts';
import { createBenchAgent, seedWithProgress, setBaseUrl, startWorld, type SeedResult, type World } from './setup.ts';
import { startClient, type Client, type PhaseSpec, type Progress } from './worker.ts';
import { CHAT_MESSAGE, DELTA_BYTES, DELTAS, directMessages, TEMPLATE_INTERVAL_MS, TEMPLATE_RATE, TEMPLATE_TEXT, WORKING_MEMORY } from './workload.ts';

export function defaultRequests(profile: ProfileName, c: number): number {
  if (profile === 'glm-4') return Math.max(2, c);
  if (profile === 'glm-4-flash') return Math.max(20, 2 * c);
  return Math.max(200, 4 * c);
}

const gapStreams = (c: number) => Math.max(5, c);
const SETTLE_MS = 300;

type Say = (line: string, final?: boolean) => void;
type BenchAgent = Awaited<ReturnType<typeof createBenchAgent>>;

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const say: Say = opts.progress ?? (() => {});
  say('starting the emulator and agentmem…');
  const world = await startWorld({
    database: opts.database,
    profile: opts.profile,
    network: { tls: opts.tls, rttMs: opts.rttMs },
    config: opts.scopeCheck ? { scopeCheck: opts.scopeCheck } : {},
  });
  const client = startClient();
  const bases = upstreamBases(world.emulator.url);
  // the floor proxies to the measured pacing
  const floor = await startFloor(() => bases.measure);
  try {
    const agent = await createBenchAgent(world, bases.fill, { window: opts.window, workingMemory: opts.workingMemory, embedder: opts.embedder });
    const memories = await seedWithProgress(world, agent, opts.memories, say);
    const level: LevelRun = {
      opts,
      bases,
      specs: phaseSpecs(world, agent, floor.url, opts),
      phases: phaseRunner(world, client, say),
      pointAt: agentPointer(world, agent, bases.fill),
      world,
      say,
    };
    const requests: Record<number, number> = {};
    const levels: LevelResult[] = [];
    for (const c of opts.concurrency) {
      const n = (requests[c] = opts.requests ?? defaultRequests(opts.profile, c));
      levels.push(await runLevel(c, n, level));
    }
    return benchResult(opts, world, memories, requests, levels, performance.now() - started);
  } finally {
    say('stopping…');
    await client.close();
    await floor.close();
    await world.close();
  }
}

/**
 * The emulator's bases: fill answers at once, so filling windows costs no model time;
 * measure has the profile's pacing; gaps the streaming template's.
 */
function upstreamBases(emu: string) {
  return {
    fill: `${emu}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: 0 })}/v1`,
    measure: `${emu}${optionPath({ text: TEMPLATE_TEXT })}/v1`,
    gaps: `${emu}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: TEMPLATE_RATE })}/v1`,
  };
}

/** Points the bench agent at an emulator base (only when it changes). */
function agentPointer(world: World, agent: BenchAgent, initial: string) {
  let current = initial;
  return async (base: string) => {
    if (base !== current) await setBaseUrl(world, agent, base);
    current = base;
  };
}

/** The three sides' phases: the same conversation sent directly, through the floor proxy, and through agentmem. */
function phaseSpecs(world: World, agent: BenchAgent, floorUrl: string, opts: BenchOptions) {
  const directBody = {
    model: 'gpt-emu',
    messages: directMessages(Math.floor((opts.window ?? 10) / 2), 5, opts.workingMemory ? WORKING_MEMORY : undefined),
    stream: true,
    stream_options: { include_usage: true },
  };
  const directHeaders = { authorization: 'Bearer sk-bench' };
  return {
    direct: (base: string, c: number, n: number, recordGaps: boolean): PhaseSpec => ({
      target: 'direct',
      url: `${base}/chat/completions`,
      headers: directHeaders,
      body: directBody,
      concurrency: c,
      requests: n,
      recordGaps,
    }),
    floor: (c: number, n: number): PhaseSpec => ({
      target: 'floor',
      url: `${floorUrl}/chat`,
      headers: directHeaders,
      body: directBody,
      concurrency: c,
      requests: n,
      recordGaps: false,
    }),
    through: (c: number, n: number, recordGaps: boolean): PhaseSpec => ({
      target: 'through',
      url: `${world.app.url}/api/v1/agents/${agent.id}/chat/stream`,
      headers: { authorization: `Bearer ${world.adminKey}` },
      body: { message: CHAT_MESSAGE, user_id: agent.userId },
      concurrency: c,
      requests: n,
      recordGaps,
      sessions: 'bench',
      vary: Boolean(opts.vary) && n > 0,
    }),
  };
}

/**
 * Runs one phase after a short pause (the previous one's stores and timers drain), and keeps
 * per phase the connections the emulator accepted (only one side talks to it at a time) and
 * what the phase cost (CPU until quiet after it, event-loop delay during it).
 */
function phaseRunner(world: World, client: Client, say: Say) {
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
  return { run, of: (s: Sample[]) => ({ opened: opened.get(s) ?? 0, cost: costs.get(s)! }) };
}

interface LevelRun {
  opts: BenchOptions;
  bases: ReturnType<typeof upstreamBases>;
  specs: ReturnType<typeof phaseSpecs>;
  phases: ReturnType<typeof phaseRunner>;
  pointAt: (base: string) => Promise<void>;
  world: World;
  say: Say;
}

/** One concurrency level: fill the windows, then direct → floor → through, then the gap streams. */
async function runLevel(c: number, n: number, { opts, bases, specs, phases, pointAt, world, say }: LevelRun): Promise<LevelResult> {
  const tag = `c=${c}`;
  await pointAt(bases.fill);
  await phases.run(`${tag} filling session windows`, { ...specs.through(c, 0, false), fillTurns: opts.fillTurns });
  await phases.run(`${tag} warming up direct`, specs.direct(bases.fill, c, Math.min(2 * c, 64), false));

  await pointAt(bases.measure);
  const d = await phases.run(`${tag} direct`, specs.direct(bases.measure, c, n, false));
  const f = await phases.run(`${tag} floor`, specs.floor(c, n));
  const t = await phases.run(`${tag} through`, specs.through(c, n, false));
  const prompt = await world.emulator.lastPrompt();
  const level = measureLevel(c, d, f, t, phases.of);
  if (prompt) level.through.prompt = prompt;

  if (opts.gaps) {
    await pointAt(bases.gaps);
    const g = gapStreams(c);
    const gd = await phases.run(`${tag} gaps direct`, specs.direct(bases.gaps, c, g, true));
    const gt = await phases.run(`${tag} gaps through`, specs.through(c, g, true));
    level.gaps = { ...measureGaps(gd, gt), loopDelay: { direct: phases.of(gd).cost.loopDelay, through: phases.of(gt).cost.loopDelay } };
  }
  say(`${tag} done: overhead p50 ${level.overhead.p50.toFixed(3)} ms, p99 ${level.overhead.p99.toFixed(3)} ms`, true);
  return level;
}

function benchResult(
  opts: BenchOptions,
  world: World,
  memories: SeedResult,
  requests: Record<number, number>,
  levels: LevelResult[],
  durationMs: number,
): BenchResult {
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
      scopeCheck: scopeCheckOn(opts.scopeCheck ?? 'auto', world.engine),
    },
    levels,
    sustained: sustainedStreams(levels),
    durationMs,
  };
}
