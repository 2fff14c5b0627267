// The token bucket (GCRA) on a fake clock, in process and in Redis; the hook's 429.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { configFromEnv } from '../config.ts';
import { createRateLimiter, memoryStore, redisStore, RateLimitError, type RateLimitStore } from './rate-limit.ts';

const redisUrl = process.env.AGENTMEM_TEST_REDIS ?? 'redis://127.0.0.1:6379';

describe('rate limit: in-process token bucket', () => {
  test('a full bucket allows `limit` at once, then one per window/limit; idle for a window, full again', async () => {
    let now = 1_000;
    const store = memoryStore(() => now);
    const b = [{ key: 'k', limit: 4 }];
    for (let i = 0; i < 4; i++) assert.equal((await store.take(b, 1000)).waitMs, 0, `request ${i + 1}`);
    const over = await store.take(b, 1000);
    assert.ok(Math.abs(over.waitMs - 250) < 1e-6, `waits one interval, got ${over.waitMs}`);
    assert.equal(over.bucket, 0);
    now += 250;
    assert.equal((await store.take(b, 1000)).waitMs, 0, 'one more after one interval');
    assert.ok((await store.take(b, 1000)).waitMs > 0);
    now += 1000;
    for (let i = 0; i < 4; i++) assert.equal((await store.take(b, 1000)).waitMs, 0, 'full again after a window');
  });

  test('a limit that does not divide the window exactly still allows exactly `limit`', async () => {
    const store = memoryStore(() => 0);
    const b = [{ key: 'k', limit: 3 }];
    for (let i = 0; i < 3; i++) assert.equal((await store.take(b, 1000)).waitMs, 0);
    assert.ok((await store.take(b, 1000)).waitMs > 0);
  });

  test('two buckets: taken from both or neither; the blocking one is named', async () => {
    const store = memoryStore(() => 0);
    const key = { key: 'k', limit: 2 };
    const org = { key: 'o', limit: 3 };
    assert.equal((await store.take([key, org], 1000)).waitMs, 0);
    assert.equal((await store.take([key, org], 1000)).waitMs, 0);
    assert.equal((await store.take([key, org], 1000)).bucket, 0, 'the key is empty');
    // The refused request took nothing from the org: a second key of the org gets its last one.
    assert.equal((await store.take([{ key: 'k2', limit: 2 }, org], 1000)).waitMs, 0);
    assert.equal((await store.take([{ key: 'k2', limit: 2 }, org], 1000)).bucket, 1, 'now the org is empty');
  });

  test('the hook: off without limits; 429 rate_limited with Retry-After in whole seconds', async () => {
    const base = { ...configFromEnv({}), redisUrl: undefined };
    assert.equal(createRateLimiter({ ...base, rateLimitPerScopedKey: 0 }), undefined);
    const limiter = createRateLimiter({ ...base, rateLimitPerKey: 1, rateLimitWindowMs: 60_000 })!;
    const headers: Record<string, string> = {};
    const reply = { header: (k: string, v: string) => (headers[k] = v) } as unknown as FastifyReply; // the one method the hook calls
    const req = {
      principal: { key_id: 'a', org_id: 'o', role: 'admin', platform_admin: false, agent_ids: null, user_id: null, expires_at: null },
    } as unknown as FastifyRequest;
    await limiter.hook(req, reply);
    await assert.rejects(limiter.hook(req, reply), (err: unknown) => {
      assert.ok(err instanceof RateLimitError);
      assert.equal(err.code, 'rate_limited');
      assert.equal(err.status, 429);
      assert.match(err.message, /1 requests per 60 s for this API key/);
      return true;
    });
    assert.equal(headers['retry-after'], '60');
    await limiter.hook({} as FastifyRequest, reply); // no principal: not limited
    await limiter.close();
  });

  test('scoped keys: their own limit, on by default (AGENTMEM_SCOPED_RATE_LIMIT; AGENTMEM_RATE_LIMIT when set; else 120)', async () => {
    assert.equal(configFromEnv({}).rateLimitPerScopedKey, 120);
    assert.equal(configFromEnv({ AGENTMEM_RATE_LIMIT: '30' }).rateLimitPerScopedKey, 30);
    assert.equal(configFromEnv({ AGENTMEM_RATE_LIMIT: '30', AGENTMEM_SCOPED_RATE_LIMIT: '7' }).rateLimitPerScopedKey, 7);
    assert.equal(configFromEnv({ AGENTMEM_SCOPED_RATE_LIMIT: '0' }).rateLimitPerScopedKey, 0);
    const limiter = createRateLimiter({ ...configFromEnv({}), redisUrl: undefined, rateLimitPerScopedKey: 2, rateLimitWindowMs: 60_000 })!;
    const scoped = { key_id: 's', org_id: 'o', role: 'member', platform_admin: false, agent_ids: null, user_id: 'ada', expires_at: null } as const;
    const member = { ...scoped, key_id: 'm', user_id: null };
    await limiter.take(scoped);
    await limiter.take(scoped);
    await assert.rejects(limiter.take(scoped), (err: unknown) => err instanceof RateLimitError && /2 requests per 60 s for this API key/.test(err.message));
    for (let i = 0; i < 10; i++) await limiter.take(member); // no limit of its own, no org limit
    await limiter.close();
  });

  test('a failing store lets the request through and reports it', async () => {
    const errors: unknown[] = [];
    const broken: RateLimitStore = { take: async () => Promise.reject(new Error('down')), close: async () => {} };
    const limiter = createRateLimiter({ ...configFromEnv({}), redisUrl: undefined, rateLimitPerOrg: 1 }, (e) => errors.push(e), broken)!;
    const req = {
      principal: { key_id: 'a', org_id: 'o', role: 'admin', platform_admin: false, agent_ids: null, user_id: null, expires_at: null },
    } as unknown as FastifyRequest;
    await limiter.hook(req, {} as FastifyReply);
    assert.equal(errors.length, 1);
  });
});

describe('rate limit: Redis token bucket (one Lua script)', { skip: redisUrl === 'none' && 'needs Redis (AGENTMEM_TEST_REDIS)' }, () => {
  test('same behaviour as in process, keys under the prefix, expiring', async () => {
    const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
    const store = redisStore(redisUrl, prefix);
    const redis = new Redis(redisUrl);
    try {
      const key = { key: 'k', limit: 3 };
      const org = { key: 'o', limit: 4 };
      for (let i = 0; i < 3; i++) assert.equal((await store.take([key, org], 10_000)).waitMs, 0);
      const over = await store.take([key, org], 10_000);
      assert.equal(over.bucket, 0);
      assert.ok(over.waitMs > 3_000 && over.waitMs <= 3_334, `one interval: ${over.waitMs}`);
      assert.equal((await store.take([{ key: 'k2', limit: 3 }, org], 10_000)).waitMs, 0);
      assert.equal((await store.take([{ key: 'k2', limit: 3 }, org], 10_000)).bucket, 1);
      const ttl = await redis.pttl(`${prefix}rl:k`);
      assert.ok(ttl > 9_000 && ttl <= 10_000, `expires when full again: ${ttl}`);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await store.close();
    }
  });
});
