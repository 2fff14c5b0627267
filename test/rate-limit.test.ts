// Rate limits per API key and per organization over HTTP, in process and in Redis:
// the N+1-th request in the window is a 429 `rate_limited` with Retry-After, another
// key / org is unaffected, the window resets; with Redis two instances share the buckets.
// The limiter does not touch the database: these run on PGlite only (the two-instance
// case needs one shared database, so it runs on PostgreSQL when that engine is tested).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { createOrg, engines, needsRedis, startServer, testRedis, type TestServer } from './harness.ts';

const redisUrl = testRedis!;
const WINDOW_MS = 2_000;
const PER_KEY = 3;
const PER_ORG = 5;

async function dropPrefix(prefix: string) {
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
}

/** Upgrades with a key in the header: 101, or the HTTP status of the refusal. */
function wsStatus(url: string, key: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

for (const store of ['memory', 'redis'] as const) {
  describe(`rate limits (${store})`, { skip: store === 'redis' && needsRedis }, () => {
    let s: TestServer;
    let a1: string;
    let a2: string;
    let b: string;
    let agentId: string;
    const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
    before(async () => {
      s = await startServer('pglite', {
        rateLimitPerKey: PER_KEY,
        rateLimitPerOrg: PER_ORG,
        rateLimitWindowMs: WINDOW_MS,
        ...(store === 'redis' ? { redisUrl, redisKeyPrefix: prefix } : {}),
      });
      const orgA = await createOrg(s.api, 'limited-a');
      const orgB = await createOrg(s.api, 'limited-b');
      a1 = (await s.api('POST', '/api/v1/api-keys', { key: orgA.key, body: { name: 'a1', role: 'member' } })).body.key;
      a2 = (await s.api('POST', '/api/v1/api-keys', { key: orgA.key, body: { name: 'a2', role: 'member' } })).body.key;
      agentId = (await s.api('POST', '/api/v1/agents', { key: orgA.key, body: { name: 'limited' } })).body.id;
      b = orgB.key;
      await sleep(WINDOW_MS + 100); // every bucket full again
    });
    after(async () => {
      await s?.close();
      if (store === 'redis') await dropPrefix(prefix);
    });

    test('per key: the N+1-th is 429 with Retry-After; another key of the org and another org go on; the window resets', async () => {
      for (let i = 0; i < PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: a1 })).status, 200, `request ${i + 1}`);
      const over = await s.api('GET', '/api/v1/agents', { key: a1 });
      assert.equal(over.status, 429);
      assert.equal(over.body.error.code, 'rate_limited');
      assert.match(over.body.error.message, /for this API key/);
      assert.equal(over.headers.get('retry-after'), '1', 'window / limit rounded up to whole seconds');
      // Every route behind a key is limited, whatever its body: refused before the body is read.
      assert.equal((await s.api('POST', '/api/v1/memories', { key: a1, raw: '{not json', headers: { 'content-type': 'application/json' } })).status, 429);
      // The OpenAI-compatible routes too, in OpenAI's error shape.
      const openai = await s.api('GET', '/v1/models', { key: a1 });
      assert.equal(openai.status, 429);
      assert.equal(openai.body.error.code, 'rate_limited');
      assert.equal(typeof openai.body.error.type, 'string');
      assert.ok(openai.headers.get('retry-after'));
      // A WebSocket upgrade with the key in its header is a request of that key.
      const ws = await wsStatus(`${s.url.replace('http', 'ws')}/api/v1/agents/${agentId}/chat/ws`, a1);
      assert.equal(ws.status, 429);
      assert.equal(ws.retryAfter, '1');
      // Not limited: routes without a key.
      assert.equal((await s.api('GET', '/health', { key: null })).status, 200);

      assert.equal((await s.api('GET', '/api/v1/agents', { key: a2 })).status, 200, 'another key of the org');
      assert.equal((await s.api('GET', '/api/v1/agents', { key: b })).status, 200, 'another org');

      await sleep(WINDOW_MS + 100);
      for (let i = 0; i < PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: a1 })).status, 200, `after the window, ${i + 1}`);
      assert.equal((await s.api('GET', '/api/v1/agents', { key: a1 })).status, 429);
      await sleep(WINDOW_MS + 100);
    });

    test('per organization: all its keys together; refused requests take nothing', async () => {
      for (let i = 0; i < PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: a1 })).status, 200);
      assert.equal((await s.api('GET', '/api/v1/agents', { key: a1 })).status, 429, 'key limit; the org is not charged');
      for (let i = 0; i < PER_ORG - PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: a2 })).status, 200);
      const over = await s.api('GET', '/api/v1/agents', { key: a2 });
      assert.equal(over.status, 429);
      assert.match(over.body.error.message, /for this organization/);
      assert.ok(Number(over.headers.get('retry-after')) >= 1);
      assert.equal((await s.api('GET', '/api/v1/agents', { key: b })).status, 200, 'another org');
      await sleep(WINDOW_MS + 100);
      assert.equal((await s.api('GET', '/api/v1/agents', { key: a2 })).status, 200, 'reset');
    });

    if (store === 'redis') {
      test('the buckets live in Redis under the key prefix, expiring', async () => {
        const redis = new Redis(redisUrl);
        const keys = await redis.keys(`${prefix}rl:*`);
        assert.ok(keys.length >= 2, `bucket keys: ${keys.join(', ')}`);
        for (const k of keys) assert.ok((await redis.pttl(k)) > 0, `${k} expires`);
        redis.disconnect();
      });
    }
  });
}

if (engines.includes('postgres')) {
  describe('rate limits (redis, two instances on one database)', { skip: needsRedis }, () => {
    let one: TestServer;
    let two: TestServer;
    const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
    const limits = { rateLimitPerKey: PER_KEY, rateLimitWindowMs: 10_000, redisUrl, redisKeyPrefix: prefix };
    before(async () => {
      one = await startServer('postgres', limits);
      two = await startServer('postgres', { ...limits, databaseUrl: one.databaseUrl });
    });
    after(async () => {
      await two?.close();
      await one?.close();
      await dropPrefix(prefix);
    });

    test("a key's requests count on every instance", async () => {
      const org = await createOrg(one.api, 'shared');
      assert.equal((await one.api('GET', '/api/v1/agents', { key: org.key })).status, 200);
      assert.equal((await one.api('GET', '/api/v1/agents', { key: org.key })).status, 200);
      assert.equal((await two.api('GET', '/api/v1/agents', { key: org.key })).status, 200);
      assert.equal((await two.api('GET', '/api/v1/agents', { key: org.key })).status, 429);
      assert.equal((await one.api('GET', '/api/v1/agents', { key: org.key })).status, 429);
    });
  });
}
