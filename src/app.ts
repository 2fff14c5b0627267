// The composition root: the logger first, then the store and what every service shares,
// then the services in the order they need each other (start/*.ts builds each group), the
// HTTP server, and the background work once it listens. The CLI's `serve` and the tests
// both start agentmem through here.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { warmUpstreams } from './agent/warm-upstreams.ts';
import { bootstrapAdminKey } from './bootstrap.ts';
import type { AppConfig } from './config.ts';
import { createPool } from './llm/pool.ts';
import type { Embedders } from './memory/embedders/index.ts';
import { startHeartbeat } from './memory/heartbeat.ts';
import { createAuth } from './server/auth.ts';
import { drainServer } from './server/shutdown.ts';
import type { Db } from './store/db.ts';
import { createInvalidationBus } from './store/invalidation.ts';
import { openStore } from './store/open.ts';
import { createSecretBox, loadSecretKey } from './store/secret-box.ts';
import { busEventSink } from './trace/bus-events.ts';
import { createMetrics } from './trace/metrics.ts';
import { buildAgents } from './start/agents.ts';
import type { Base } from './start/base.ts';
import { buildHttp, buildStreamHold } from './start/http.ts';
import { subscribeCaches, trackCaches } from './start/invalidation.ts';
import { buildJobQueue, buildWebhooks, registerJobHandlers, startPurge } from './start/jobs.ts';
import { createLogger, type Logger } from './start/logger.ts';
import { buildMemory } from './start/memory.ts';

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

export interface StartOptions {
  /** the logger to use instead of one at `config.logLevel` on stdout (a test reads what the start logs) */
  logger?: Logger;
}

export async function startAgentmem(config: AppConfig, opts: StartOptions = {}): Promise<Agentmem> {
  const base = await openBase(config, opts.logger ?? createLogger(config.logLevel));
  const { db, pool, bus, log } = base;
  // What was opened so far, closed in reverse if the start fails.
  const opened: Array<() => Promise<unknown>> = [() => db.close(), () => bus.close(), () => pool.close()];
  try {
    const box = createSecretBox(loadSecretKey(config.secretKey, config.dataDir));
    const generatedAdminKey = await bootstrapAdminKey(db, config.bootstrapKey);
    // Answers cut off by a crash (their owner's heartbeat older than the lease) are kept as
    // what was said, marked incomplete; live ones on other instances are left alone.
    const heartbeat = await startHeartbeat(db, {
      owner: base.instanceId,
      leaseMs: config.streamLeaseMs,
      onError: (err) => log.warn({ err }, 'stream heartbeat failed'),
      onSwept: (count) => log.warn({ count }, 'answers of a stopped instance marked incomplete'),
    });
    opened.push(() => heartbeat.stop());

    const { gate, jobs, handlers } = buildJobQueue(base);
    const agents = buildAgents(base, box, jobs);
    const memory = buildMemory(base, agents.loadAgent, jobs);
    opened.push(() => memory.embedderFor.close());
    registerJobHandlers(base, handlers, agents.loadAgent, memory, jobs);
    const { webhooks, deliveries } = buildWebhooks(base, box, gate);
    opened.push(() => deliveries.stop());
    const auth = createAuth(db, bus);
    subscribeCaches(base, agents, memory, auth);
    // Redis down at start: serve anyway, the caches bypassed until the bus hears its channel.
    await Promise.race([bus.ready(), new Promise((r) => setTimeout(r, 5_000).unref())]);
    trackCaches(base, memory, gate);
    const streams = buildStreamHold(base);
    opened.push(() => streams.close());
    const { server, live } = await buildHttp(base, streams, { agents, memory, auth, jobs, gate, webhooks });
    log.info({ redis: Boolean(config.redisUrl) }, 'caches ready');
    if (config.redisUrl && !bus.trusted()) log.warn('Redis does not answer: serving with the caches bypassed (every read goes to the database) until it does');
    const url = await server.listen({ port: config.port, host: config.host });

    // Off the request path, once the server listens.
    jobs.start();
    deliveries.start();
    const retention = startPurge(base);
    warmUpstreams(db, pool, config).then(
      (origins) => origins.length && log.info({ origins }, 'upstream connections open'),
      (err) => log.warn({ err }, 'could not warm upstream connections'),
    );
    let closed: Promise<void> | undefined;
    const shutdown = (graceMs = config.shutdownGraceMs) =>
      (closed ??= (async () => {
        // Live turns first; the stream mirror (end markers), jobs and the store after them.
        await drainServer(server, live, graceMs);
        await jobs.stop();
        await deliveries.stop();
        await retention.stop();
        await memory.history.close();
        await heartbeat.stop();
        await Promise.allSettled([agents.mcp.close(), pool.close(), bus.close(), streams.close(), memory.embedderFor.close()]);
        await db.close();
      })());
    return { url, server, db, generatedAdminKey, shutdown, close: () => shutdown(0), embedderFor: memory.embedderFor };
  } catch (err) {
    for (const close of opened.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => {});
    throw err;
  }
}

/** The logger's first companions: the store, the upstream pool, the metrics and the invalidation bus. */
async function openBase(config: AppConfig, log: Logger): Promise<Base> {
  const db = await openStore(config.databaseUrl, config.dataDir, config.pgPool);
  const pool = createPool({ egress: config.egress });
  const metrics = createMetrics({ knownModels: config.metricsModels });
  // Its start-up errors (Redis not answering) are logged: the logger exists already.
  const bus = createInvalidationBus(config.redisUrl, { prefix: config.redisKeyPrefix, onEvent: busEventSink(metrics, () => log) });
  return { config, log, db, pool, metrics, bus, instanceId: randomUUID() };
}
