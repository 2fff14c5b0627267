// Process configuration, read once from the environment (the names are the public contract).
import { resolve } from 'node:path';
import { parseEgress, type EgressPolicy } from './llm/egress.ts';
import { MEMORY_INDEX_BYTES, MESSAGE_INDEX_BYTES, PREDICTION_BYTES } from './memory/bounds.ts';

export interface AppConfig {
  port: number;
  host: string;
  /** unset: embedded PGlite in dataDir; memory://; or postgres://… */
  databaseUrl?: string;
  /** AGENTMEM_PG_POOL_MAX / AGENTMEM_PG_POOL_MIN: PostgreSQL connections at most, and kept open and warmed at start (store/postgres) */
  pgPool: { max: number; min: number };
  redisUrl?: string;
  dataDir: string;
  bootstrapKey?: string;
  secretKey?: string;
  bodyLimit: number;
  logLevel: string;
  openaiApiKey?: string;
  openaiBaseUrl?: string;
  zhipuApiKey?: string;
  zhipuBaseUrl?: string;
  anthropicApiKey?: string;
  anthropicBaseUrl?: string;
  /** how long a claimed background job stays locked to its worker (a crashed worker's job is retried after it) */
  jobLockMs: number;
  /** AGENTMEM_JOB_RETENTION_MS: finished background jobs are deleted this long after they ended */
  jobRetentionMs: number;
  /** AGENTMEM_MEMORY_INDEX_BYTES: the memories' lexical indexes kept in process, in bytes (least recently searched scopes leave first; docs/reliability.md "Memory bounds") */
  memoryIndexBytes: number;
  /** AGENTMEM_MESSAGE_INDEX_BYTES: the past messages' lexical indexes (episodic recall) kept in process, in bytes */
  messageIndexBytes: number;
  /** AGENTMEM_PREDICTION_BYTES: predicted recall pools (memories and their vectors) kept in process, in bytes */
  predictionBytes: number;
  /** how long an ended SSE chat stream stays resumable with Last-Event-ID */
  streamHoldMs: number;
  /** a `resumable: true` stream whose client left is cancelled after this long with no client following it */
  streamGraceMs: number;
  /** prefix of every Redis key agentmem writes (held streams) */
  redisKeyPrefix: string;
  /** requests per rateLimitWindowMs per API key (0: no limit); 429 with Retry-After beyond it */
  rateLimitPerKey: number;
  /** AGENTMEM_SCOPED_RATE_LIMIT: requests per rateLimitWindowMs per scoped (end-user) key (0: no limit); default AGENTMEM_RATE_LIMIT, or 120 when that is unset */
  rateLimitPerScopedKey: number;
  /** requests per rateLimitWindowMs per organization, all its keys together (0: no limit) */
  rateLimitPerOrg: number;
  rateLimitWindowMs: number;
  /** AGENTMEM_METRICS_TOKEN: a bearer token that may read /metrics (besides the platform admin key) */
  metricsToken?: string;
  /** AGENTMEM_METRICS_MODELS: model names shown as themselves in metric labels, beside the built-in list (trace/model-label.ts) */
  metricsModels: string[];
  /** AGENTMEM_EGRESS: where upstream traffic may go (model providers, embedders, HTTP tools, MCP servers) */
  egress: EgressPolicy;
  /** AGENTMEM_ALLOW_STDIO_MCP=1: agents may run local MCP servers over stdio (a program on this host) */
  allowStdioMcp: boolean;
  /** SIGTERM/SIGINT: how long live turns may run on before they are ended with `shutting_down` (shutdown.ts) */
  shutdownGraceMs: number;
  /** a streaming answer whose owner's heartbeat is older than this is a dead instance's: marked incomplete (heartbeat.ts) */
  streamLeaseMs: number;
  /** a client whose socket stays full this long ends its turn with `client_stalled` (backpressure.ts) */
  streamStallMs: number;
  /** bytes queued for one client beyond which the upstream is no longer read until it drains */
  streamBufferBytes: number;
  /** /ready fails when the store does not answer within this (Redis is reported, not required) */
  readyTimeoutMs: number;
  /** AGENTMEM_WEBHOOK_TIMEOUT_MS: one webhook attempt's deadline (connect, answer, body) */
  webhookTimeoutMs: number;
  /** AGENTMEM_WEBHOOK_BACKOFF_MS: the first retry's delay; each next one doubles (up to an hour) */
  webhookBackoffMs: number;
  /** AGENTMEM_WEBHOOK_MAX_ATTEMPTS: attempts before a delivery is failed for good */
  webhookMaxAttempts: number;
  /** AGENTMEM_WEBHOOK_RETENTION_MS: deliveries are deleted this long after they were created */
  webhookRetentionMs: number;
  /** AGENTMEM_WEBHOOK_POLL_MS: how often an idle worker looks for due deliveries */
  webhookPollMs: number;
  /**
   * AGENTMEM_SCOPE_CHECK: when a search compares a memory scope's version with the store's
   * (memory-sync.ts), and a turn its kept session (session-cache.ts). 'always': every search
   * and turn (one probe each, grouped; a store shared by instances); 'bus-down': only while the
   * invalidation bus is deaf; 'auto': 'always' on PostgreSQL, 'bus-down' on the embedded store
   * (one process owns it).
   */
  scopeCheck: 'always' | 'bus-down' | 'auto';
  /** AGENTMEM_SCOPE_VERSIONS_MAX: memory scopes whose version an instance remembers (LRU; ~150 B each) */
  scopeVersionsMax: number;
  /** AGENTMEM_MEMORY_HISTORY_RETENTION_DAYS: memory_history rows older than this are purged (0: kept forever) */
  memoryHistoryRetentionDays: number;
  /** AGENTMEM_PURGE_BATCH: rows one purge statement deletes (jobs, memory_history), so none holds locks long */
  purgeBatch: number;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    port: intEnv(env.PORT, 8080),
    host: env.HOST || '127.0.0.1',
    databaseUrl: env.DATABASE_URL || undefined,
    pgPool: { max: Math.max(1, intEnv(env.AGENTMEM_PG_POOL_MAX, 20)), min: Math.max(0, intEnv(env.AGENTMEM_PG_POOL_MIN, 8)) },
    redisUrl: env.REDIS_URL || undefined,
    dataDir: resolve(env.AGENTMEM_DATA_DIR || '.agentmem'),
    bootstrapKey: env.AGENTMEM_BOOTSTRAP_KEY || undefined,
    secretKey: env.AGENTMEM_SECRET_KEY || undefined,
    bodyLimit: intEnv(env.AGENTMEM_BODY_LIMIT, 1024 * 1024),
    logLevel: env.LOG_LEVEL || 'info',
    openaiApiKey: env.OPENAI_API_KEY || undefined,
    openaiBaseUrl: env.OPENAI_BASE_URL || undefined,
    zhipuApiKey: env.ZHIPU_API_KEY || undefined,
    zhipuBaseUrl: env.ZHIPU_BASE_URL || undefined,
    anthropicApiKey: env.ANTHROPIC_API_KEY || undefined,
    anthropicBaseUrl: env.ANTHROPIC_BASE_URL || undefined,
    jobLockMs: intEnv(env.AGENTMEM_JOB_LOCK_MS, 60_000),
    jobRetentionMs: intEnv(env.AGENTMEM_JOB_RETENTION_MS, 7 * 24 * 3_600_000),
    memoryIndexBytes: Math.max(1, intEnv(env.AGENTMEM_MEMORY_INDEX_BYTES, MEMORY_INDEX_BYTES)),
    messageIndexBytes: Math.max(1, intEnv(env.AGENTMEM_MESSAGE_INDEX_BYTES, MESSAGE_INDEX_BYTES)),
    predictionBytes: Math.max(1, intEnv(env.AGENTMEM_PREDICTION_BYTES, PREDICTION_BYTES)),
    streamHoldMs: intEnv(env.AGENTMEM_STREAM_HOLD_MS, 5 * 60_000),
    streamGraceMs: intEnv(env.AGENTMEM_STREAM_GRACE_MS, 60_000),
    redisKeyPrefix: env.AGENTMEM_REDIS_PREFIX || 'agentmem:',
    rateLimitPerKey: intEnv(env.AGENTMEM_RATE_LIMIT, 0),
    rateLimitPerScopedKey: intEnv(env.AGENTMEM_SCOPED_RATE_LIMIT, intEnv(env.AGENTMEM_RATE_LIMIT, 0) || 120),
    rateLimitPerOrg: intEnv(env.AGENTMEM_ORG_RATE_LIMIT, 0),
    rateLimitWindowMs: Math.max(1, intEnv(env.AGENTMEM_RATE_LIMIT_WINDOW_MS, 60_000)),
    metricsToken: metricsToken(env.AGENTMEM_METRICS_TOKEN),
    metricsModels: (env.AGENTMEM_METRICS_MODELS ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean),
    egress: parseEgress(env.AGENTMEM_EGRESS),
    allowStdioMcp: env.AGENTMEM_ALLOW_STDIO_MCP === '1' || env.AGENTMEM_ALLOW_STDIO_MCP === 'true',
    shutdownGraceMs: intEnv(env.AGENTMEM_SHUTDOWN_GRACE_MS, 30_000),
    streamLeaseMs: Math.max(100, intEnv(env.AGENTMEM_STREAM_LEASE_MS, 30_000)),
    streamStallMs: Math.max(1, intEnv(env.AGENTMEM_STREAM_STALL_MS, 30_000)),
    streamBufferBytes: Math.max(1024, intEnv(env.AGENTMEM_STREAM_BUFFER_BYTES, 256 * 1024)),
    readyTimeoutMs: Math.max(1, intEnv(env.AGENTMEM_READY_TIMEOUT_MS, 2_000)),
    webhookTimeoutMs: Math.max(100, intEnv(env.AGENTMEM_WEBHOOK_TIMEOUT_MS, 10_000)),
    webhookBackoffMs: Math.max(1, intEnv(env.AGENTMEM_WEBHOOK_BACKOFF_MS, 5_000)),
    webhookMaxAttempts: Math.max(1, intEnv(env.AGENTMEM_WEBHOOK_MAX_ATTEMPTS, 10)),
    webhookRetentionMs: Math.max(60_000, intEnv(env.AGENTMEM_WEBHOOK_RETENTION_MS, 7 * 24 * 3_600_000)),
    webhookPollMs: Math.max(10, intEnv(env.AGENTMEM_WEBHOOK_POLL_MS, 1_000)),
    scopeCheck: scopeCheck(env.AGENTMEM_SCOPE_CHECK),
    scopeVersionsMax: Math.max(1, intEnv(env.AGENTMEM_SCOPE_VERSIONS_MAX, 100_000)),
    memoryHistoryRetentionDays: intEnv(env.AGENTMEM_MEMORY_HISTORY_RETENTION_DAYS, 90),
    purgeBatch: Math.max(1, intEnv(env.AGENTMEM_PURGE_BATCH, 1_000)),
  };
}

/** Whether a string names an AGENTMEM_SCOPE_CHECK setting (the env var and `agentmem bench --scope-check`). */
export const isScopeCheck = (value: string): value is AppConfig['scopeCheck'] => value === 'always' || value === 'bus-down' || value === 'auto';

/** What `auto` means on an engine: PostgreSQL may be shared by instances, the embedded store is one process's. */
export const scopeCheckOn = (setting: AppConfig['scopeCheck'], engine: string): 'always' | 'bus-down' =>
  setting === 'auto' ? (engine === 'postgres' ? 'always' : 'bus-down') : setting;

function scopeCheck(value: string | undefined): AppConfig['scopeCheck'] {
  if (!value) return 'auto';
  if (isScopeCheck(value)) return value;
  throw new Error(`AGENTMEM_SCOPE_CHECK must be always, bus-down or auto, got "${value}"`);
}

function metricsToken(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.length < 16) throw new Error('AGENTMEM_METRICS_TOKEN must be at least 16 characters');
  return value;
}

function intEnv(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got "${value}"`);
  return n;
}
