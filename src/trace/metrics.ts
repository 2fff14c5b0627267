// Prometheus metrics for /metrics. A registry per createMetrics() call (never the
// global one) so several servers in one process — tests, bench — don't clash.
// Label values are bounded sets (stages, routes, providers, known models: model-label.ts);
// never put ids or user input in a label.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { modelLabeller } from './model-label.ts';
import { STAGES, type Stage, type Timings } from './timings.ts';
import type { BusEvent } from '../store/invalidation.ts';

export type Outcome = 'ok' | 'error' | 'aborted';

export interface RouteLabels {
  route: string;
  provider: string;
  model: string;
}

// Sub-millisecond (cache hits, auth) up to a slow model's full answer.
export const STAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];
// The seed's first tokens run 0.5–30 s; the emulator and fast models answer in milliseconds.
export const FIRST_TOKEN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 30, 60];

/** The in-process structures kept within a budget (label values of the memory_bound metrics). */
export type BoundedStructure = 'memory_index' | 'message_index' | 'predictions';
type BoundedRead = () => { bytes: number; entries: number; evictions: number };

export interface Metrics {
  registry: Registry;
  stageDuration: Histogram<'stage' | 'route'>;
  stageSkipped: Counter<'stage' | 'reason'>;
  firstToken: Histogram<'provider' | 'model'>;
  /** agentmem_chat_requests_total{route, outcome} */
  httpRequests: Counter<'route' | 'outcome'>;
  /** One observation per recorded stage, plus one count per skipped stage. */
  observeTimings(timings: ReturnType<Timings['toJSON']>, labels: RouteLabels): void;
  observeFirstToken(provider: string, model: string, ms: number): void;
  /** agentmem_prompt_tokens_total{provider, model, cache="cached"|"uncached"}: prompt tokens sent upstream, by whether the provider's prompt cache served them */
  countPromptTokens(provider: string, model: string, usage: { prompt_tokens: number; cached_prompt_tokens: number }): void;
  countRequest(route: string, outcome: Outcome): void;
  /** `name`{state="open"|"idle"}, read from `read` at each scrape */
  trackConnections(name: 'agentmem_upstream_connections' | 'agentmem_db_connections', read: () => { open: number; idle: number }): void;
  /** agentmem_turns_awaiting_first_token, read at each scrape: turns started whose first token has not come (nor their end) */
  trackAwaitingFirstToken(read: () => number): void;
  /** agentmem_invalidation_bus_events_total{event}: errors, downs, reconnects (up), failed publishes, clears asked by another instance */
  countBusEvent(event: BusEvent['type']): void;
  /** agentmem_invalidation_bus_trusted, read at each scrape: 1 while caches may answer from memory */
  trackBusTrusted(read: () => boolean): void;
  /** agentmem_store_write_batch_size{write="begin"|"finish"}: turns per statement of a grouped write (store/group-commit.ts) */
  observeWriteBatch(write: 'begin' | 'finish', turns: number): void;
  /**
   * agentmem_memory_bound_bytes{structure}, agentmem_memory_bound_entries{structure} and
   * agentmem_memory_bound_evictions_total{structure}, read from `read` at each scrape: an
   * in-process structure kept within a budget (docs/reliability.md "Memory bounds")
   */
  trackBounded(structure: BoundedStructure, read: BoundedRead): void;
  /** Memory scopes kept current by deltas (memory/memory-sync.ts): versions remembered, deltas applied, version checks, re-reads. */
  trackScopeSync(read: () => { scopes: number; applied: number; checks: number; reloads: number; ahead: number; ownWrites: number }): void;
  /** The exposition text for GET /metrics. */
  text(): Promise<string>;
  contentType: string;
}

/** `knownModels`: model names shown as themselves beside the built-in list (AGENTMEM_METRICS_MODELS); any other is "other". */
export function createMetrics(options: { knownModels?: readonly string[] } = {}): Metrics {
  const registry = new Registry();
  const modelLabel = modelLabeller(options.knownModels);
  collectDefaultMetrics({ register: registry });
  const { stageDuration, stageSkipped, firstToken, promptTokens, httpRequests } = chatMetrics(registry);
  const { busEvents, writeBatch } = storeMetrics(registry);
  const bounded = boundedMetrics(registry);

  return {
    registry,
    stageDuration,
    stageSkipped,
    firstToken,
    httpRequests,
    observeTimings(timings, labels) {
      // provider/model are not stage labels: stage × route × model × buckets would
      // multiply series for little gain; per-model latency lives in firstToken.
      for (const stage of STAGES) {
        const ms = timings[stage];
        if (ms !== undefined) stageDuration.observe({ stage, route: labels.route }, ms / 1000);
      }
      if (timings.skipped) {
        for (const [stage, reason] of Object.entries(timings.skipped) as [Stage, string][]) {
          stageSkipped.inc({ stage, reason });
        }
      }
    },
    observeFirstToken(provider, model, ms) {
      firstToken.observe({ provider, model: modelLabel(model) }, ms / 1000);
    },
    countPromptTokens(provider, model, { prompt_tokens, cached_prompt_tokens }) {
      const label = modelLabel(model);
      promptTokens.inc({ provider, model: label, cache: 'cached' }, cached_prompt_tokens);
      promptTokens.inc({ provider, model: label, cache: 'uncached' }, Math.max(0, prompt_tokens - cached_prompt_tokens));
    },
    countRequest(route, outcome) {
      httpRequests.inc({ route, outcome });
    },
    trackConnections: (name, read) => connectionsGauge(registry, name, read),
    trackAwaitingFirstToken: (read) => awaitingFirstTokenGauge(registry, read),
    countBusEvent(event) {
      busEvents.inc({ event });
    },
    observeWriteBatch(write, turns) {
      writeBatch.observe({ write }, turns);
    },
    trackBusTrusted: (read) => busTrustedGauge(registry, read),
    trackBounded(structure, read) {
      bounded.set(structure, read);
    },
    trackScopeSync: (read) => scopeSyncMetrics(registry, read),
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/** A chat request's: its stages, its first token, the prompt tokens it sent, its outcome. */
function chatMetrics(registry: Registry) {
  const stageDuration = new Histogram({
    name: 'agentmem_stage_duration_seconds',
    help: 'Time spent in each stage of a chat request.',
    labelNames: ['stage', 'route'] as const,
    buckets: STAGE_BUCKETS,
    registers: [registry],
  });
  const stageSkipped = new Counter({
    name: 'agentmem_stage_skipped_total',
    help: 'Stages skipped or cut off, by reason (e.g. recall over its time budget).',
    labelNames: ['stage', 'reason'] as const,
    registers: [registry],
  });
  const firstToken = new Histogram({
    name: 'agentmem_upstream_first_token_seconds',
    help: 'Time from sending the upstream request to its first token.',
    labelNames: ['provider', 'model'] as const,
    buckets: FIRST_TOKEN_BUCKETS,
    registers: [registry],
  });
  // Per provider and model, not per agent: agent ids are unbounded (and tenants'), labels must not be.
  const promptTokens = new Counter({
    name: 'agentmem_prompt_tokens_total',
    help: "Prompt tokens sent to model providers, by whether the provider's prompt cache served them (cache=cached) or they were prefilled (cache=uncached).",
    labelNames: ['provider', 'model', 'cache'] as const,
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: 'agentmem_chat_requests_total',
    help: 'Chat requests by route and outcome.',
    labelNames: ['route', 'outcome'] as const,
    registers: [registry],
  });
  return { stageDuration, stageSkipped, firstToken, promptTokens, httpRequests };
}

/** The invalidation bus's events and the grouped writes' batch sizes. */
function storeMetrics(registry: Registry) {
  const busEvents = new Counter({
    name: 'agentmem_invalidation_bus_events_total',
    help: 'Cache invalidation bus (Redis): connection errors, outages begun (down), reconnects after which every cache was cleared (up), publishes that failed, clears asked by another instance whose publish had failed (cleared).',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const writeBatch = new Histogram({
    name: 'agentmem_store_write_batch_size',
    help: "Turns written by one statement of a grouped write: a turn's first write (begin) and its last (finish).",
    labelNames: ['write'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  });
  return { busEvents, writeBatch };
}

/** The memory_bound metrics, read at each scrape from the structures put in the returned map. */
function boundedMetrics(registry: Registry): Map<BoundedStructure, BoundedRead> {
  const bounded = new Map<BoundedStructure, BoundedRead>();
  const boundGauge = (name: string, help: string, field: 'bytes' | 'entries') =>
    new Gauge({
      name,
      help,
      labelNames: ['structure'] as const,
      registers: [registry],
      collect() {
        for (const [structure, read] of bounded) this.set({ structure }, read()[field]);
      },
    });
  boundGauge(
    'agentmem_memory_bound_bytes',
    'Estimated bytes held by an in-process structure kept within a budget (lexical indexes, predicted pools).',
    'bytes',
  );
  boundGauge('agentmem_memory_bound_entries', 'Entries (scopes) held by an in-process structure kept within a budget.', 'entries');
  new Counter({
    name: 'agentmem_memory_bound_evictions_total',
    help: 'Entries an in-process structure dropped to stay within its budget (least recently used first).',
    labelNames: ['structure'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [structure, read] of bounded) this.inc({ structure }, read().evictions);
    },
  });
  return bounded;
}

function connectionsGauge(registry: Registry, name: Parameters<Metrics['trackConnections']>[0], read: () => { open: number; idle: number }): void {
  new Gauge({
    name,
    help: `${name === 'agentmem_db_connections' ? 'Connections to PostgreSQL' : 'Keep-alive connections to model providers'}: open, and idle among them.`,
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const { open, idle } = read();
      this.set({ state: 'open' }, open);
      this.set({ state: 'idle' }, idle);
    },
  });
}

function awaitingFirstTokenGauge(registry: Registry, read: () => number): void {
  new Gauge({
    name: 'agentmem_turns_awaiting_first_token',
    help: 'Chat turns running that have not had their first token yet (background work waits for 0).',
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function busTrustedGauge(registry: Registry, read: () => boolean): void {
  new Gauge({
    name: 'agentmem_invalidation_bus_trusted',
    help: '1 while the invalidation bus hears every change (caches answer from memory); 0 while they read the database.',
    registers: [registry],
    collect() {
      this.set(read() ? 1 : 0);
    },
  });
}

/** Counters only go up: the sync's own totals are read at each scrape and the difference since the last added. */
function scopeSyncMetrics(registry: Registry, read: Parameters<Metrics['trackScopeSync']>[0]): void {
  new Gauge({
    name: 'agentmem_memory_scope_versions',
    help: 'Memory scopes whose version this instance remembers (AGENTMEM_SCOPE_VERSIONS_MAX).',
    registers: [registry],
    collect() {
      this.set(read().scopes);
    },
  });
  new Gauge({
    name: 'agentmem_memory_scope_sync_waiting',
    help: "Memory deltas kept ahead of one not yet heard (ahead; at most 64 a scope), scopes with this instance's own writes not yet in their index (own_writes).",
    labelNames: ['what'],
    registers: [registry],
    collect() {
      const r = read();
      this.set({ what: 'ahead' }, r.ahead);
      this.set({ what: 'own_writes' }, r.ownWrites);
    },
  });
  const counted = { applied: 0, checks: 0, reloads: 0 };
  new Counter({
    name: 'agentmem_memory_scope_sync_total',
    help: "Other instances' memory writes applied as deltas (applied), per-search version checks (checks), scopes read again because a version differed (reloads).",
    labelNames: ['what'],
    registers: [registry],
    collect() {
      const r = read();
      for (const what of ['applied', 'checks', 'reloads'] as const) {
        this.inc({ what }, r[what] - counted[what]);
        counted[what] = r[what];
      }
    },
  });
}
