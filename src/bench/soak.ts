// The soak: the streaming template (64 deltas of 16 bytes, one every 20 ms) through
// agentmem at a fixed concurrency for minutes, with memory on (window 10, recall over
// the seeded memories, extraction on). Every 10 s it samples this process's memory:
// RSS is the whole process — agentmem, the emulator and the client worker share it (a
// thread has no RSS of its own); heapUsed is split by isolate: the main thread
// (agentmem + emulator) and the client worker. The RSS slope is a least-squares fit
// over the second half of the run (the first half includes warm-up and JIT).
import { loadavg } from 'node:os';
import { machineInfo } from './machine.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProfileName } from '../emulator/server.ts';
import { createBenchAgent, seedWithProgress, setBaseUrl, startWorld, type SeedResult, type World } from './setup.ts';
import { startClient, type SoakStats } from './worker.ts';
import { optionPath } from '../emulator/options.ts';
import { CHAT_MESSAGE, DELTA_BYTES, DELTAS, TEMPLATE_INTERVAL_MS, TEMPLATE_RATE, TEMPLATE_TEXT } from './workload.ts';

export interface SoakOptions {
  seconds: number;
  concurrency: number;
  database?: string;
  memories: number;
  fillTurns: number;
  /** seconds between memory samples */
  sampleEvery?: number;
  progress?: (line: string, final?: boolean) => void;
}

export interface MemorySample {
  /** seconds since the soak started */
  t: number;
  /** MB */
  rss: number;
  mainHeapUsed: number;
  mainHeapTotal: number;
  external: number;
  arrayBuffers: number;
  workerHeapUsed?: number;
  workerHeapTotal?: number;
  streams: number;
  /** the machine's 1-minute load average: other work on the machine shows here */
  load1: number;
}

export interface SoakResult {
  tool: 'agentmem bench --soak';
  date: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; memoryGb: number; loadavg: number[]; loadavgEnd: number[] };
  engine: string;
  store: string;
  memories: SeedResult;
  template: { deltas: number; bytes: number; intervalMs: number };
  options: { seconds: number; concurrency: number; fillTurns: number; sampleEvery: number };
  samples: MemorySample[];
  rss: { start: number; middle: number; end: number; max: number; slopeMbPerMin: number; slopeFrom: number };
  mainHeap: { start: number; end: number; slopeMbPerMin: number };
  stats: SoakStats;
  /** rows in the store's tables before and after: what the soak itself stored */
  rows: { before: Record<string, number>; after: Record<string, number> };
  durationMs: number;
}

const MB = 2 ** 20;
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const started = performance.now();
  const say = opts.progress ?? (() => {});
  const every = opts.sampleEvery ?? 10;
  const load0 = loadavg();
  say('starting the emulator and agentmem…');
  const world = await startWorld({ database: opts.database, profile: 'instant' as ProfileName });
  const client = startClient();
  try {
    const emu = world.emulator.url;
    const fillBase = `${emu}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: 0 })}/v1`;
    const gapBase = `${emu}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: TEMPLATE_RATE })}/v1`;
    const agent = await createBenchAgent(world, fillBase);
    const memories = await seedWithProgress(world, agent, opts.memories, say);

    const url = `${world.app.url}/api/v1/agents/${agent.id}/chat/stream`;
    const headers = { authorization: `Bearer ${world.adminKey}` };
    const body = { message: CHAT_MESSAGE, user_id: agent.userId };
    await client.run(
      { target: 'through', url, headers, body, concurrency: opts.concurrency, requests: 0, recordGaps: false, sessions: 'soak', fillTurns: opts.fillTurns },
      (p) => say(`filling session windows ${p.done}/${p.total}`),
    );
    await setBaseUrl(world, agent, gapBase);
    await sleep(1000);
    const rowsBefore = await countRows(world.app.db);

    const sampler = memorySampler(world, opts, say);
    sampler.sample();
    const timer = setInterval(sampler.sample, every * 1000);
    let stats: SoakStats;
    try {
      stats = await client.soak(
        {
          url,
          headers,
          body,
          concurrency: opts.concurrency,
          durationMs: opts.seconds * 1000,
          sessions: 'soak',
          deltas: DELTAS,
          intervalMs: TEMPLATE_INTERVAL_MS,
        },
        (s) => (sampler.last = s),
      );
    } finally {
      clearInterval(timer);
    }
    sampler.last = stats;
    sampler.sample();
    const rowsAfter = await countRows(world.app.db);

    const { samples } = sampler;
    return {
      tool: 'agentmem bench --soak',
      date: new Date().toISOString(),
      machine: { ...machineInfo(load0), loadavgEnd: loadavg().map((x) => round(x, 2)) },
      engine: world.engine,
      store: world.store,
      memories,
      template: { deltas: DELTAS, bytes: DELTA_BYTES, intervalMs: TEMPLATE_INTERVAL_MS },
      options: { seconds: opts.seconds, concurrency: opts.concurrency, fillTurns: opts.fillTurns, sampleEvery: every },
      samples,
      ...memoryTrend(samples, opts.seconds),
      stats,
      rows: { before: rowsBefore, after: rowsAfter },
      durationMs: performance.now() - started,
    };
  } finally {
    say('stopping…');
    await client.close();
    await world.close();
  }
}

/**
 * Samples this process's memory (and the client worker's, from its last stats) and says it.
 * `last`: the client's latest figures, set as they come.
 */
function memorySampler(world: World, opts: SoakOptions, say: (line: string, final?: boolean) => void) {
  const samples: MemorySample[] = [];
  const t0 = performance.now();
  const sampler = {
    samples,
    last: undefined as SoakStats | undefined,
    sample: () => {
      const last = sampler.last;
      // The emulator records every request it serves (a test aid: ~10 KB each here, never
      // dropped); the bench never reads them, and kept they would be the soak's "leak".
      void world.emulator.reset();
      const mu = process.memoryUsage();
      const s: MemorySample = {
        t: round((performance.now() - t0) / 1000),
        rss: round(mu.rss / MB),
        mainHeapUsed: round(mu.heapUsed / MB),
        mainHeapTotal: round(mu.heapTotal / MB),
        external: round(mu.external / MB),
        arrayBuffers: round(mu.arrayBuffers / MB),
        workerHeapUsed: last ? round(last.workerMemory.heapUsed / MB) : undefined,
        workerHeapTotal: last ? round(last.workerMemory.heapTotal / MB) : undefined,
        streams: last?.streams ?? 0,
        load1: round(loadavg()[0]!, 2),
      };
      samples.push(s);
      say(
        `soak ${s.t.toFixed(0)}/${opts.seconds} s c=${opts.concurrency}: streams ${s.streams}, errors ${last?.errors ?? 0}, lost frames ${last?.framesLost ?? 0}, ` +
          `stalls ${last?.stalls ?? 0}, load ${s.load1}, rss ${s.rss} MB, heap main ${s.mainHeapUsed} MB${s.workerHeapUsed !== undefined ? `, worker ${s.workerHeapUsed} MB` : ''}`,
        true,
      );
    },
  };
  return sampler;
}

/** RSS and main heap: start, middle, end, and their slope over the run's second half. */
function memoryTrend(samples: MemorySample[], seconds: number): Pick<SoakResult, 'rss' | 'mainHeap'> {
  const half = samples.filter((s) => s.t >= seconds / 2);
  const slope = (pick: (s: MemorySample) => number) => round(leastSquaresSlope(half.map((s) => [s.t / 60, pick(s)])), 3);
  const mid = samples.reduce((best, s) => (Math.abs(s.t - seconds / 2) < Math.abs(best.t - seconds / 2) ? s : best), samples[0]!);
  return {
    rss: {
      start: samples[0]!.rss,
      middle: mid.rss,
      end: samples[samples.length - 1]!.rss,
      max: Math.max(...samples.map((s) => s.rss)),
      slopeMbPerMin: slope((s) => s.rss),
      slopeFrom: half[0]?.t ?? 0,
    },
    mainHeap: { start: samples[0]!.mainHeapUsed, end: samples[samples.length - 1]!.mainHeapUsed, slopeMbPerMin: slope((s) => s.mainHeapUsed) },
  };
}

/** Slope of y over x by least squares; NaN with fewer than two points. */
export function leastSquaresSlope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? NaN : (n * sxy - sx * sy) / d;
}

async function countRows(db: { query<T>(sql: string, params?: unknown[]): Promise<T[]> }): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['messages', 'sessions', 'memories', 'memory_history', 'jobs']) {
    try {
      const [row] = await db.query<{ n: string | number }>(`select count(*) as n from ${table}`);
      out[table] = Number(row?.n ?? NaN);
    } catch {
      // a table another version does not have
    }
  }
  return out;
}
