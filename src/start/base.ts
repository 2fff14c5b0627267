// What every builder of the start receives: the settings, the logger and the few things
// opened first (the store, the upstream pool, the metrics, the invalidation bus).
// A leaf module: the builders import it, nothing here imports a builder.
import type { ReadyAgent } from '../agent/cache.ts';
import type { AppConfig } from '../config.ts';
import type { UpstreamPool } from '../llm/pool.ts';
import type { Db } from '../store/db.ts';
import type { InvalidationBus } from '../store/invalidation.ts';
import type { Metrics } from '../trace/metrics.ts';
import type { Logger } from './logger.ts';

export interface Base {
  config: AppConfig;
  log: Logger;
  db: Db;
  pool: UpstreamPool;
  metrics: Metrics;
  bus: InvalidationBus;
  /** this process, as the owner of the answers it streams (memory/heartbeat.ts) */
  instanceId: string;
}

/** An org's agent, ready to run, from the agent cache: what every service that needs one is given. */
export type LoadAgent = (orgId: string, agentId: string) => Promise<ReadyAgent | undefined>;
