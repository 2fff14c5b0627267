// What route modules receive: the services below the server layer.
import type { Agents } from '../agent/agents.ts';
import type { AgentCache } from '../agent/cache.ts';
import type { RunDeps } from '../agent/turn-types.ts';
import type { AppConfig } from '../config.ts';
import type { HistoryStore } from '../memory/history.ts';
import type { Memories } from '../memory/memories.ts';
import type { Db } from '../store/db.ts';
import type { InvalidationBus } from '../store/invalidation.ts';
import type { Metrics } from '../trace/metrics.ts';
import type { WebhookEndpoints } from '../webhooks/endpoints.ts';
import type { Timings } from '../trace/timings.ts';
import type { Auth, Principal } from './auth.ts';
import type { LiveTurns } from './live-turns.ts';
import type { StreamHold } from './stream-hold.ts';

export interface ServerContext {
  config: AppConfig;
  db: Db;
  auth: Auth;
  agents: Agents;
  agentCache: AgentCache;
  history: HistoryStore;
  memories: Memories;
  run: RunDeps;
  metrics: Metrics;
  bus: InvalidationBus;
  /** native SSE chat streams held for Last-Event-ID resumption */
  streams: StreamHold;
  /** turns running now, for a graceful shutdown */
  live: LiveTurns;
  /** an organization's webhook endpoints (their deliveries run apart, webhooks/delivery.ts) */
  webhooks: WebhookEndpoints;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /** stage timings of this request, started when it arrived */
    timings: Timings;
  }
}
