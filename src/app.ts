// The composition root: opens the store, builds the services and the HTTP server.
// The CLI's `serve` and the tests both start agentmem through here.
import type { FastifyInstance } from 'fastify';
import { createAgents } from './agent/agents.ts';
import { createAgentCache } from './agent/cache.ts';
import { checkConfigEgress } from './agent/egress-check.ts';
import { warmUpstreams } from './agent/warm-upstreams.ts';
import { bootstrapAdminKey } from './bootstrap.ts';
import type { AppConfig } from './config.ts';
import { createPool } from './llm/pool.ts';
import { createEmbedders } from './memory/embedders/index.ts';
import { createHistory } from './memory/history.ts';
import { createMemories } from './memory/memories.ts';
import { createMemorySearch, createRecall, vectorWeightOf } from './memory/recall.ts';
import { invalidateIndexes } from './memory/memory-index.ts';
import { createEpisodes } from './memory/episodic.ts';
import { createMessageIndex, episodicHooks, invalidateSessionMessages } from './memory/message-index.ts';
import { EXTRACT_JOB, extractAfterTurn, extractionHandler } from './memory/extraction.ts';
import { createFirstTokenGate, createJobQueue, type FirstTokenGate } from './memory/jobs.ts';
import type { RunDeps } from './agent/run.ts';
import { REEMBED_JOB, reembedHandler } from './memory/reembed.ts';
import { createPredictions, scopeKey } from './memory/predictive.ts';
import { buildServer } from './server/app.ts';
import { createAuth } from './server/auth.ts';
import { createStreamHold, defaultHoldLimits } from './server/stream-hold.ts';
import { createRedisStreamLog } from './server/stream-log-redis.ts';
import type { Db } from './store/db.ts';
import { createInvalidationBus } from './store/invalidation.ts';
import { openStore } from './store/open.ts';
import { markStreamingIncomplete } from './store/repos/messages.ts';
import { createSecretBox, loadSecretKey } from './store/secret-box.ts';
import { createMetrics } from './trace/metrics.ts';

export interface Agentmem {
  url: string;
  server: FastifyInstance;
  db: Db;
  /** set only when this start created the first admin key */
  generatedAdminKey?: string;
  close(): Promise<void>;
}

export async function startAgentmem(config: AppConfig): Promise<Agentmem> {
  const db = await openStore(config.databaseUrl, config.dataDir);
  const pool = createPool({ egress: config.egress });
  const bus = createInvalidationBus(config.redisUrl);
  let closeStreams = async () => {};
  try {
    const box = createSecretBox(loadSecretKey(config.secretKey, config.dataDir));
    const generatedAdminKey = await bootstrapAdminKey(db, config.bootstrapKey);
    // Answers cut off by a crash are kept as what was said, marked incomplete.
    await markStreamingIncomplete(db);

    // Declared first: background work logs through the server's logger once it exists.
    let server: FastifyInstance | undefined;
    const agents = createAgents(db, box, config, {
      onChange: (id) => bus.publish('agent', id),
      checkTargets: (agentConfig) => checkConfigEgress(config.egress, agentConfig),
      // Stored vectors are in the old space: embed them again, durably, off the request path.
      onEmbedderChange: (org_id, agent_id, version) =>
        void jobs.enqueue({ org_id, kind: REEMBED_JOB, payload: { agent_id }, idempotency_key: `reembed:${agent_id}:${version}` }).catch((err) =>
          server?.log.error({ err, agent_id }, 'could not queue re-embedding'),
        ),
    });
    const agentCache = createAgentCache(agents, pool, config);
    const messageIndex = createMessageIndex(db);
    const episodes = createEpisodes(db, messageIndex);
    const history = createHistory(db, { onChange: (id) => bus.broadcast('session', id), ...episodicHooks(messageIndex) });
    const auth = createAuth(db);
    const embedderFor = createEmbedders(config, pool.dispatcher);
    const search = createMemorySearch(db);
    const predictions = createPredictions({ db, search, embedderFor });
    const memories = createMemories({
      db, loadAgent: (org, id) => agentCache.get(org, id), embedderFor, search, episodes,
      // the lexical index here is updated in place; other instances re-read the scope
      onChange: (org, agentId, userId) => {
        const key = scopeKey(org, agentId, userId);
        predictions.invalidateKey(key);
        bus.broadcast('memories', key);
      },
    });
    // The predicted pool is ranked inside recall's budget, by the one query vector.
    const recall = createRecall(search, embedderFor, (agent, userId, embedderId, vector) => predictions.rank(agent, userId, embedderId, vector), episodes);
    const predict = async (org: string, agentId: string, userId: string | null, text: string) => {
      const agent = await agentCache.get(org, agentId);
      // the pool is ranked by vector: useless to text-only recall (the local default), which needs no SQL anyway
      if (agent && (agent.config.memory.semantic_recall.vector_weight ?? vectorWeightOf(embedderFor(agent.config.memory.embedder))) > 0) {
        await predictions.prepare(agent, userId, text);
      }
    };
    // Background work (extraction) waits while any request awaits its first token.
    const gate = createFirstTokenGate();
    const jobs = createJobQueue(db, {
      gate,
      lockMs: config.jobLockMs,
      handlers: {
        [EXTRACT_JOB]: extractionHandler({ memories, loadAgent: (org, id) => agentCache.get(org, id), afterApply: predict }),
        [REEMBED_JOB]: reembedHandler({ db, embedderFor, loadAgent: (org, id) => agentCache.get(org, id) }),
      },
      onError: (err, job) => server?.log.warn({ err, job: job?.id, kind: job?.kind, attempt: job?.attempts }, 'background job failed'),
    });
    bus.subscribe('agent', agentCache.invalidate);
    bus.subscribe('session', history.invalidate);
    bus.subscribe('session', (id) => void invalidateSessionMessages(db, messageIndex, id).catch(() => {}));
    bus.subscribe('api_key', auth.invalidate);
    bus.subscribe('memories', (key) => {
      predictions.invalidateKey(key);
      invalidateIndexes(search.index, key);
      invalidateIndexes(messageIndex, key);
    });
    await bus.ready();

    const metrics = createMetrics();
    metrics.trackConnections('agentmem_upstream_connections', pool.stats);
    metrics.trackConnections('agentmem_db_connections', db.connections);
    metrics.trackAwaitingFirstToken(() => gate.waiting);
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
    server = await buildServer({
      config, db, auth, agents, agentCache, history, memories, bus, streams,
      run: { history, recall, gate, memories, dispatcher: pool.dispatcher, afterTurn: afterTurn(extractAfterTurn(jobs), gate, predict) },
      metrics,
    });
    server.log.info({ redis: Boolean(config.redisUrl) }, 'caches ready');
    const url = await server.listen({ port: config.port, host: config.host });
    jobs.start();
    warmUpstreams(db, pool, config).then(
      (origins) => origins.length && server!.log.info({ origins }, 'upstream connections open'),
      (err) => server!.log.warn({ err }, 'could not warm upstream connections'),
    );
    return {
      url,
      server: server!,
      db,
      generatedAdminKey,
      async close() {
        await server!.close();
        await jobs.stop();
        await Promise.allSettled([pool.close(), bus.close(), closeStreams()]);
        await db.close();
      },
    };
  } catch (err) {
    await Promise.allSettled([pool.close(), bus.close(), closeStreams(), db.close()]);
    throw err;
  }
}

/**
 * After an answer: extraction (a durable job), and the next turn's recall pool. The pool
 * is prepared after extraction applies its changes when it runs, otherwise once no
 * request awaits its first token.
 */
function afterTurn(extract: NonNullable<RunDeps['afterTurn']>, gate: FirstTokenGate, predict: (org: string, agentId: string, userId: string | null, text: string) => Promise<void>): NonNullable<RunDeps['afterTurn']> {
  return (agent, turn, answer, wait) => {
    if (!(agent.config.memory.extract && turn.userId)) {
      void gate.quiet().then(() => predict(turn.orgId, agent.id, turn.userId, `${turn.userContent}\n${answer}`));
    }
    return extract(agent, turn, answer, wait);
  };
}
