// What `agentmem bench` measures and prints: its options and its result, per concurrency
// level and per side (direct, the floor, through agentmem). Shared by the run (run.ts), the
// measuring (measure.ts), the report and the chart; it imports none of them.
import type { AppConfig } from '../config.ts';
import type { ProfileName } from '../emulator/server.ts';
import type { Certificate } from '../emulator/tls.ts';
import type { PROFILES } from '../emulator/profiles.ts';
import type { PromptSize } from './emulator-thread.ts';
import type { PhaseResources } from './resources.ts';
import type { OurStage } from './seed-table.ts';
import type { SeedResult } from './setup.ts';
import type { Summary } from './stats.ts';

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
  /** AGENTMEM_SCOPE_CHECK for the server under test (default auto: always on PostgreSQL, bus-down embedded) */
  scopeCheck?: AppConfig['scopeCheck'];
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
    /** what the server compared with the store per search and turn (AGENTMEM_SCOPE_CHECK, resolved) */
    scopeCheck: 'always' | 'bus-down';
  };
  levels: LevelResult[];
  /** the highest concurrency run whose gap streams had no error, no lost frame and no stall (undefined: none) */
  sustained?: { through?: number; direct?: number; levels: number[] };
  durationMs: number;
}
