// The HTTP side: the chat streams held for resumption (mirrored through Redis when there is
// one, so any instance can resume them), the turns running now, and the Fastify server over
// every service, logging through the process's logger.
import { createAfterTurn } from '../memory/after-turn.ts';
import type { FirstTokenGate, JobQueue } from '../memory/jobs.ts';
import { buildServer } from '../server/app.ts';
import type { Auth } from '../server/auth.ts';
import { createLiveTurns } from '../server/live-turns.ts';
import { createStreamHold, defaultHoldLimits } from '../server/stream-hold.ts';
import { createRedisStreamLog } from '../server/stream-log-redis.ts';
import type { WebhookEndpoints } from '../webhooks/endpoints.ts';
import type { AgentServices } from './agents.ts';
import type { Base } from './base.ts';
import type { MemoryServices } from './memory.ts';

export interface HttpDeps {
  agents: AgentServices;
  memory: MemoryServices;
  auth: Auth;
  jobs: JobQueue;
  gate: FirstTokenGate;
  webhooks: WebhookEndpoints;
}

export function buildStreamHold({ config, log }: Base) {
  return createStreamHold(
    { holdMs: config.streamHoldMs },
    config.redisUrl
      ? createRedisStreamLog(config.redisUrl, {
          prefix: config.redisKeyPrefix,
          holdMs: config.streamHoldMs,
          maxFramesPerStream: defaultHoldLimits.maxFramesPerStream,
          onError: (err) => log.warn({ err }, 'stream mirror (Redis) failed'),
        })
      : undefined,
  );
}

export async function buildHttp(base: Base, streams: ReturnType<typeof createStreamHold>, deps: HttpDeps) {
  const { config, db, bus, metrics, pool, log } = base;
  const { agents, agentCache, mcp } = deps.agents;
  const { history, memories, recall, working, predict } = deps.memory;
  const { jobs, gate } = deps;
  const live = createLiveTurns();
  const afterTurn = createAfterTurn({ jobs, history, gate, predict, onSummaryError: (err) => log.warn({ err }, 'could not queue a summary') });
  const server = await buildServer(
    {
      config,
      db,
      auth: deps.auth,
      agents,
      agentCache,
      history,
      memories,
      bus,
      streams,
      live,
      webhooks: deps.webhooks,
      run: { history, recall, gate, memories, working, dispatcher: pool.dispatcher, mcp, afterTurn },
      metrics,
    },
    log,
  );
  return { server, live };
}
