// The composition root: opens the store, builds the services and the HTTP server.
// The CLI's `serve` and the tests both start agentmem through here.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createAgents } from './agent/agents.ts';
import { createAgentCache, type ReadyAgent } from './agent/cache.ts';
import { checkConfigEgress } from './agent/egress-check.ts';
import { checkStdioMcp, createMcpTools } from './agent/mcp-tools.ts';
import { warmUpstreams } from './agent/warm-upstreams.ts';
import { bootstrapAdminKey } from './bootstrap.ts';
import type { AppConfig } from './config.ts';
import { createPool } from './llm/pool.ts';
import { createEmbedders, type Embedders } from './memory/embedders/index.ts';
import { createHistory } from './memory/history.ts';
import { startHeartbeat, type Heartbeat } from './memory/heartbeat.ts';
import { createMemories } from './memory/memories.ts';
import { createWorkingMemory } from './memory/working-memory.ts';
import { SUMMARY_JOB, summaryHandler } from './memory/summaries.ts';
import { createModelProviders } from './agent/model-providers.ts';
import { createMemorySearch, createRecall } from './memory/recall.ts';
import { createMemoryIndex, invalidateIndexes } from './memory/memory-index.ts';
import { createMemorySync, MAX_DELTA_IDS } from './memory/memory-sync.ts';
import { startRetention } from './memory/retention.ts';
import { createEpisodes } from './memory/episodic.ts';
import { createMessageIndex, episodicHooks, invalidateSessionMessages } from './memory/message-index.ts';
import { EXTRACT_JOB, extractionHandler } from './memory/extraction.ts';
import { createAfterTurn, createPredict, poolUseful } from './memory/after-turn.ts';
import { createFirstTokenGate, createJobQueue } from './memory/jobs.ts';
import { EMBED_JOB, embedHandler, queueEmbeddings, REEMBED_JOB, reembedHandler } from './memory/reembed.ts';
import { createPredictions, scopeKey } from './memory/predictive.ts';
import { buildServer } from './server/app.ts';
import { createAuth } from './server/auth.ts';
import { createLiveTurns } from './server/live-turns.ts';
import { drainServer } from './server/shutdown.ts';
import { createStreamHold, defaultHoldLimits } from './server/stream-hold.ts';
import { createRedisStreamLog } from './server/stream-log-redis.ts';
import type { Db } from './store/db.ts';
import { createInvalidationBus } from './store/invalidation.ts';
import { openStore } from './store/open.ts';
import { createSecretBox, loadSecretKey } from './store/secret-box.ts';
import { busEventSink } from './trace/bus-events.ts';
import { createMetrics } from './trace/metrics.ts';
import { createWebhookDelivery } from './webhooks/delivery.ts';
import { createWebhookEndpoints } from './webhooks/endpoints.ts';

export interface Agentmem {
  url: string;
  server: FastifyInstance;
  db: Db;
  /** set only when this start created the first admin key */
  generatedAdminKey?: string;
  /** stops accepting, lets live turns run up to `graceMs` (default AGENTMEM_SHUTDOWN_GRACE_MS), ends the rest, then closes everything */
  shutdown(graceMs?: number): Promise<void>;
  /** shutdown with no grace: live turns end at once with `shutting_down` */
  close(): Promise<void>;
  /** the embedders agents use (one per distinct config; the local neural one owns a worker) */
  embedderFor: Embedders;
}

export async function startAgentmem(config: AppConfig): Promise<Agentmem> {
  const db = await openStore(config.databaseUrl, config.dataDir);
  const pool = createPool({ egress: config.egress });
  const metrics = createMetrics({ knownModels: config.metricsModels });
  // Declared first: background work logs through the server's logger once it exists.
  let server: FastifyInstance | undefined;
  const bus = createInvalidationBus(config.redisUrl, { prefix: config.redisKeyPrefix, onEvent: busEventSink(metrics, () => server?.log) });
  let closeStreams = async () => {};
  let heartbeat: Heartbeat | undefined;
  let stopDeliveries = async () => {};
  // This process, as the owner of the answers it streams.
  const instanceId = randomUUID();
  try {
    const box = createSecretBox(loadSecretKey(config.secretKey, config.dataDir));
    const generatedAdminKey = await bootstrapAdminKey(db, config.bootstrapKey);

    // Answers cut off by a crash (their owner's heartbeat older than the lease) are kept as
    // what was said, marked incomplete; live ones on other instances are left alone.
    heartbeat = await startHeartbeat(db, {
      owner: instanceId,
      leaseMs: config.streamLeaseMs,
      onError: (err) => server?.log.warn({ err }, 'stream heartbeat failed'),
      onSwept: (count) => server?.log.warn({ count }, 'answers of a stopped instance marked incomplete'),
    });
    const agents = createAgents(db, box, config, {
      onChange: (id) => bus.publish('agent', id),
      checkTargets: (agentConfig) => (checkStdioMcp(agentConfig, config.allowStdioMcp), checkConfigEgress(config.egress, agentConfig)),
      // Stored vectors are in the old space: embed them again, durably, off the request path.
      onEmbedderChange: (org_id, agent_id, version) =>
        void jobs
          .enqueue({ org_id, kind: REEMBED_JOB, payload: { agent_id }, idempotency_key: `reembed:${agent_id}:${version}` })
          .catch((err) => server?.log.error({ err, agent_id }, 'could not queue re-embedding')),
    });
    const agentCache = createAgentCache(agents, pool, config, bus);
    const mcp = createMcpTools({
      dispatcher: pool.dispatcher,
      allowStdio: config.allowStdioMcp,
      onError: (err, name) => server?.log.warn({ err, mcp_server: name }, 'MCP server unavailable'),
    });
    const messageIndex = createMessageIndex(db, { maxBytes: config.messageIndexBytes });
    const episodes = createEpisodes(db, messageIndex);
    const history = createHistory(db, {
      owner: instanceId,
      guard: bus,
      onChange: (id) => bus.broadcast('session', id),
      onRetryError: (err, id) => server?.log.warn({ err, message_id: id }, 'storing an answer failed again; retrying'),
      onRetryStored: (id) => server?.log.info({ message_id: id }, 'answer stored after a retry'),
      onWriteBatch: (write, turns) => metrics.observeWriteBatch(write, turns),
      ...episodicHooks(messageIndex),
    });
    const working = createWorkingMemory(db, { onChange: (key) => bus.broadcast('working', key) });
    const auth = createAuth(db, bus);
    const embedderFor = createEmbedders(config, pool.dispatcher);
    // Other instances' writes reach this one's memory indexes as deltas (memory-sync.ts).
    const sync = createMemorySync({
      db,
      guard: bus,
      check: config.scopeCheck === 'auto' ? (db.engine === 'postgres' ? 'always' : 'bus-down') : config.scopeCheck,
      maxScopes: config.scopeVersionsMax,
    });
    const memoryIndex = createMemoryIndex(db, { maxBytes: config.memoryIndexBytes, beforeLoad: sync.beforeLoad });
    sync.attach(memoryIndex);
    const search = createMemorySearch(db, {
      index: { ...memoryIndex, search: async (scope, ...rest) => (await sync.verify(scope), memoryIndex.search(scope, ...rest)) },
    });
    const predictions = createPredictions({ db, search, embedderFor, guard: bus, maxBytes: config.predictionBytes });
    const memories = createMemories({
      db,
      loadAgent: (org, id) => agentCache.get(org, id),
      embedderFor,
      search,
      episodes,
      // the lexical index here is updated in place; other instances apply the delta
      onChange: (org, agentId, userId, delta) => {
        const key = scopeKey(org, agentId, userId);
        predictions.invalidateKey(key);
        sync.local(org, agentId, userId, delta);
        bus.broadcast('memories', key, delta.ids.length > MAX_DELTA_IDS ? { ...delta, ids: [] } : delta);
      },
      // a slow embedder's vectors follow the write, by a job queued with it
      onVectorsPending: (tx, org, rows) => queueEmbeddings((job, q) => jobs.enqueue(job, q), tx, org, rows),
    });
    // The predicted pool is ranked inside recall's budget, by the one query vector.
    const recall = createRecall(search, embedderFor, (agent, userId, embedderId, vector) => predictions.rank(agent, userId, embedderId, vector), episodes);
    const predict = createPredict({ loadAgent: (org, id) => agentCache.get(org, id), predictions, embedderFor });
    // Background work (extraction) waits while any request awaits its first token.
    const gate = createFirstTokenGate();
    const providerFor = createModelProviders(pool, config);
    const jobs = createJobQueue(db, {
      gate,
      lockMs: config.jobLockMs,
      handlers: {
        [EXTRACT_JOB]: extractionHandler<ReadyAgent>({
          db,
          memories,
          loadAgent: (org, id) => agentCache.get(org, id),
          related: async (org, agentId, userId, query, topK) => {
            const agent = await agentCache.get(org, agentId);
            return agent ? predictions.related(agent, userId, query, topK, poolUseful(agent, embedderFor)) : [];
          },
          afterApply: predict,
          providerFor,
        }),
        [SUMMARY_JOB]: summaryHandler<ReadyAgent>({ db, history, loadAgent: (org, id) => agentCache.get(org, id), providerFor }),
        [REEMBED_JOB]: reembedHandler({ db, embedderFor, loadAgent: (org, id) => agentCache.get(org, id) }),
        [EMBED_JOB]: embedHandler({ db, embedderFor, loadAgent: (org, id) => agentCache.get(org, id), enqueue: (job) => jobs.enqueue(job) }),
      },
      onError: (err, job) => server?.log.warn({ err, job: job?.id, kind: job?.kind, attempt: job?.attempts }, 'background job failed'),
    });
    // Webhooks: the outbox is written with each change; this instance's worker sends it.
    const webhooks = createWebhookEndpoints(db, { box, egress: config.egress });
    const deliveries = createWebhookDelivery(db, {
      box,
      egress: config.egress,
      gate,
      timeoutMs: config.webhookTimeoutMs,
      backoffMs: config.webhookBackoffMs,
      maxAttempts: config.webhookMaxAttempts,
      retentionMs: config.webhookRetentionMs,
      pollMs: config.webhookPollMs,
      onError: (err, d) => server?.log.warn({ err, delivery: d?.id, endpoint: d?.endpoint_id, attempt: d?.attempt }, 'webhook delivery failed'),
    });
    stopDeliveries = () => deliveries.stop();
    bus.subscribe('agent', agentCache.invalidate);
    bus.subscribe('agent', mcp.invalidate);
    bus.subscribe('session', history.invalidate);
    bus.subscribe('session', (id) => void invalidateSessionMessages(db, messageIndex, id).catch(() => {}));
    bus.subscribe('working', working.invalidate);
    bus.subscribe('api_key', auth.invalidate);
    bus.subscribe('memories', (key, delta) => {
      predictions.invalidateKey(key);
      if (delta) return sync.remote(key, delta);
      // the bus was deaf: each memory scope is checked on its next use, not the fleet's all at once
      if (key === '*') sync.recheckAll();
      else invalidateIndexes(search.index, key); // a user forgotten
      invalidateIndexes(messageIndex, key);
    });
    bus.subscribe('user', (key) => history.forgetUserKey(key));
    // Redis down at start: serve anyway, the caches bypassed until the bus hears its channel.
    await Promise.race([bus.ready(), new Promise((r) => setTimeout(r, 5_000).unref())]);

    metrics.trackBusTrusted(() => bus.trusted());
    metrics.trackScopeSync(sync.stats);
    metrics.trackConnections('agentmem_upstream_connections', pool.stats);
    metrics.trackConnections('agentmem_db_connections', db.connections);
    metrics.trackAwaitingFirstToken(() => gate.waiting);
    metrics.trackBounded('memory_index', search.index.stats);
    metrics.trackBounded('message_index', messageIndex.stats);
    metrics.trackBounded('predictions', predictions.stats);
    // Chat streams held for resumption; with Redis, mirrored so any instance can resume them.
    const streams = createStreamHold(
      { holdMs: config.streamHoldMs },
      config.redisUrl
        ? createRedisStreamLog(config.redisUrl, {
            prefix: config.redisKeyPrefix,
            holdMs: config.streamHoldMs,
            maxFramesPerStream: defaultHoldLimits.maxFramesPerStream,
            onError: (err) => server?.log.warn({ err }, 'stream mirror (Redis) failed'),
          })
        : undefined,
    );
    closeStreams = () => streams.close();
    const live = createLiveTurns();
    server = await buildServer({
      config,
      db,
      auth,
      agents,
      agentCache,
      history,
      memories,
      bus,
      streams,
      live,
      webhooks,
      run: {
        history,
        recall,
        gate,
        memories,
        working,
        dispatcher: pool.dispatcher,
        mcp,
        afterTurn: createAfterTurn({ jobs, history, gate, predict, onSummaryError: (err) => server?.log.warn({ err }, 'could not queue a summary') }),
      },
      metrics,
    });
    server.log.info({ redis: Boolean(config.redisUrl) }, 'caches ready');
    if (config.redisUrl && !bus.trusted())
      server.log.warn('Redis does not answer: serving with the caches bypassed (every read goes to the database) until it does');
    const url = await server.listen({ port: config.port, host: config.host });
    jobs.start();
    deliveries.start();
    const retention = startRetention(db, {
      jobRetentionMs: config.jobRetentionMs,
      historyRetentionMs: config.memoryHistoryRetentionDays * 86_400_000,
      batch: config.purgeBatch,
      onError: (err) => server?.log.warn({ err }, 'purging old rows failed; retried on schedule'),
      onPurged: (table, rows) => server?.log.info({ table, rows }, 'old rows purged'),
    });
    warmUpstreams(db, pool, config).then(
      (origins) => origins.length && server!.log.info({ origins }, 'upstream connections open'),
      (err) => server!.log.warn({ err }, 'could not warm upstream connections'),
    );
    let closed: Promise<void> | undefined;
    const shutdown = (graceMs = config.shutdownGraceMs) =>
      (closed ??= (async () => {
        // Live turns first; the stream mirror (end markers), jobs and the store after them.
        await drainServer(server!, live, graceMs);
        await jobs.stop();
        await stopDeliveries();
        await retention.stop();
        await history.close();
        await heartbeat!.stop();
        await Promise.allSettled([mcp.close(), pool.close(), bus.close(), closeStreams(), embedderFor.close()]);
        await db.close();
      })());
    return { url, server: server!, db, generatedAdminKey, shutdown, close: () => shutdown(0), embedderFor };
  } catch (err) {
    await heartbeat?.stop();
    await Promise.allSettled([stopDeliveries(), pool.close(), bus.close(), closeStreams(), db.close()]);
    throw err;
  }
}
