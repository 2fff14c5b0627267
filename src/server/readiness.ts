// Liveness and readiness. /health answers as long as the process does (restart it when
// it does not). /ready says whether this instance can serve: the store answers a query
// within AGENTMEM_READY_TIMEOUT_MS and it is not shutting down. A load balancer sends
// traffic only while /ready is 200. Redis (when configured) is PINGed and reported, but
// does not decide: it is down for every instance at once, and without it an instance still
// answers correctly (its caches bypassed, its indexes checked against the store), so taking
// the whole fleet out of the balancer would turn an optional dependency into an outage.
import { Redis } from 'ioredis';
import type { Db } from '../store/db.ts';

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface Readiness {
  check(): Promise<{ ready: boolean; checks: Record<string, CheckResult> }>;
  close(): Promise<void>;
}

async function timed(run: () => Promise<unknown>, deadlineMs: number, what: string): Promise<CheckResult> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${deadlineMs} ms`)), deadlineMs))),
    ]);
    return { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: (err as Error).message || String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export function createReadiness(opts: { db: Db; redisUrl?: string; deadlineMs: number; draining: () => boolean }): Readiness {
  // Its own connection: fails fast while Redis is down (no offline queue), reconnects by itself.
  const redis = opts.redisUrl ? new Redis(opts.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 }) : undefined;
  redis?.on('error', () => {});
  return {
    async check() {
      const checks: Record<string, CheckResult> = {};
      const [store, r] = await Promise.all([
        timed(() => opts.db.query('select 1'), opts.deadlineMs, 'the store'),
        redis
          ? timed(
              async () => {
                if (redis.status === 'wait') await redis.connect();
                await redis.ping();
              },
              opts.deadlineMs,
              'Redis',
            )
          : undefined,
      ]);
      checks.store = store;
      if (r) checks.redis = r;
      const draining = opts.draining();
      if (draining) checks.shutdown = { ok: false, ms: 0, error: 'shutting down' };
      return { ready: !draining && store.ok, checks };
    },
    async close() {
      redis?.disconnect();
    },
  };
}
