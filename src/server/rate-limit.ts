// Request limits per API key and per organization: `limit` requests per `windowMs`,
// as a token bucket kept as one number per bucket (GCRA: the bucket's "theoretical
// arrival time"). A full bucket allows `limit` requests at once; afterwards one more
// every windowMs / limit; a bucket left alone for windowMs is full again.
//
// One limiter for every door (docs/security.md, "What each door counts"): the HTTP hook
// (every request with a key: the API, /v1, /mcp, a WebSocket upgrade with a key in its
// header) and `take` for what is not an HTTP request (a WebSocket's auth message, each of
// its turns: routes/chat-ws.ts). A scoped (end-user) key has its own limit, on by default.
//
// In process without Redis; with REDIS_URL one Lua script per request checks and takes
// from the key's and the org's bucket atomically (one round trip, the Redis clock), so
// every instance shares them. A request takes from both buckets or from neither.
// Off — no hook, no round trip — when every limit is 0.
// If Redis fails, requests are let through (logged): a limiter must not take the API down.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config.ts';
import { isScoped, type Principal } from './auth.ts';
import { AppError } from './errors.ts';

export interface Bucket {
  key: string;
  /** requests per window */
  limit: number;
}

/** `waitMs` 0: taken from every bucket; otherwise from none, and `bucket` (an index) is the one that waits longest. */
export interface Taken {
  waitMs: number;
  bucket: number;
}

export interface RateLimitStore {
  take(buckets: Bucket[], windowMs: number): Promise<Taken>;
  close(): Promise<void>;
}

/** Below this (ms) a difference is float noise, not a wait: limit × (window / limit) may exceed window by an ulp. */
const EPSILON_MS = 0.001;

export function memoryStore(now: () => number = () => performance.now()): RateLimitStore {
  const tats = new Map<string, number>();
  let sweepAt = 0;
  return {
    async take(buckets, windowMs) {
      const t = now();
      // Buckets that are full again hold no information: dropped now and then.
      if (t >= sweepAt) {
        for (const [k, tat] of tats) if (tat <= t) tats.delete(k);
        sweepAt = t + windowMs;
      }
      let wait = 0;
      let bucket = -1;
      const next = buckets.map((b, i) => {
        const tat = Math.max(tats.get(b.key) ?? t, t) + windowMs / b.limit;
        if (tat - windowMs - t > wait) [wait, bucket] = [tat - windowMs - t, i];
        return tat;
      });
      if (wait > EPSILON_MS) return { waitMs: wait, bucket };
      buckets.forEach((b, i) => tats.set(b.key, next[i]!));
      return { waitMs: 0, bucket: -1 };
    },
    close: async () => {},
  };
}

// KEYS: the buckets; ARGV[i]: KEYS[i]'s interval (window / limit, ms); ARGV[#KEYS + 1]: the window (ms).
// Returns {0, 0} (taken from every bucket) or {ms to wait, 1-based index of the bucket} (taken from none).
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[#KEYS + 1])
local wait = 0
local which = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  tats[i] = tat + tonumber(ARGV[i])
  local w = tats[i] - window - now
  if w > wait then wait = w; which = i end
end
if wait > ${EPSILON_MS} then return {math.ceil(wait), which} end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now))
end
return {0, 0}
`;

export function redisStore(redisUrl: string, prefix: string): RateLimitStore {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 500 });
  redis.on('error', () => {}); // each failed command rejects; take() reports it
  redis.defineCommand('agentmemGcra', { lua: GCRA_LUA });
  const gcra = (redis as unknown as { agentmemGcra(n: number, ...args: Array<string | number>): Promise<[number, number]> }).agentmemGcra.bind(redis);
  return {
    async take(buckets, windowMs) {
      const keys = buckets.map((b) => `${prefix}rl:${b.key}`);
      const [waitMs, which] = await gcra(keys.length, ...keys, ...buckets.map((b) => windowMs / b.limit), windowMs);
      return { waitMs: Number(waitMs), bucket: Number(which) - 1 };
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export interface RateLimiter {
  /** The preParsing hook: after auth (every API hook authenticates in onRequest), before the body is read. */
  hook(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** One request of this principal that is not an HTTP request (a WebSocket turn): throws RateLimitError over the limit. */
  take(p: Principal): Promise<void>;
  close(): Promise<void>;
}

type Limits = Pick<AppConfig, 'rateLimitPerKey' | 'rateLimitPerScopedKey' | 'rateLimitPerOrg' | 'rateLimitWindowMs' | 'redisUrl' | 'redisKeyPrefix'>;

/** The limiter the config asks for, or undefined when every limit is off. */
export function createRateLimiter(
  config: Limits,
  onError: (err: unknown) => void = () => {},
  store: RateLimitStore = config.redisUrl ? redisStore(config.redisUrl, config.redisKeyPrefix) : memoryStore(),
): RateLimiter | undefined {
  const { rateLimitPerKey: perKey, rateLimitPerScopedKey: perScopedKey, rateLimitPerOrg: perOrg, rateLimitWindowMs: windowMs } = config;
  if (!perKey && !perScopedKey && !perOrg) {
    void store.close();
    return undefined;
  }
  const seconds = windowMs / 1000;

  async function take(p: Principal): Promise<void> {
    const buckets: Array<Bucket & { scope: string }> = [];
    const keyLimit = isScoped(p) ? perScopedKey : perKey;
    if (keyLimit) buckets.push({ key: `k:${p.key_id}`, limit: keyLimit, scope: 'API key' });
    if (perOrg) buckets.push({ key: `o:${p.org_id}`, limit: perOrg, scope: 'organization' });
    if (buckets.length === 0) return;
    let taken: Taken;
    try {
      taken = await store.take(buckets, windowMs);
    } catch (err) {
      onError(err);
      return;
    }
    if (taken.waitMs <= 0) return;
    const { limit, scope } = buckets[taken.bucket] ?? buckets[0]!;
    const after = Math.max(1, Math.ceil(taken.waitMs / 1000));
    throw new RateLimitError(`Rate limit of ${limit} requests per ${seconds} s for this ${scope} reached; retry after ${after} s.`, after);
  }

  return {
    async hook(req, reply) {
      // Routes without a principal here (health, metrics, the web page, a WebSocket that
      // authenticates with its first message: chat-ws.ts takes for it) are not limited.
      const p = (req as Partial<FastifyRequest>).principal;
      if (!p) return;
      try {
        await take(p);
      } catch (err) {
        if (err instanceof RateLimitError) reply.header('retry-after', String(err.retryAfterSeconds));
        throw err;
      }
    },
    take,
    close: () => store.close(),
  };
}

export class RateLimitError extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message);
  }
}
