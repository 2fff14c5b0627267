// Rate limits per API key and per organization over HTTP, in process and in Redis:
// the N+1-th request in the window is a 429 `rate_limited` with Retry-After, another
// key / org is unaffected, the window resets; with Redis two instances share the buckets.
// The limiter does not touch the database: these run on PGlite only (the two-instance
// case needs one shared database, so it runs on PostgreSQL when that engine is tested).
//
// Timing: a bucket gives one request back every window / limit. The refusals are checked
// with a 10-minute window (one back every 200 s per key), so a slow machine cannot refill a
// bucket mid-test; every request of a bucket is counted, setup included. The reset is checked
// on its own server with a 1 s window, by draining and waiting, never by racing the refill.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { createOrg, engines, needsRedis, startServer, testRedis, type ChatEventLike, type TestServer } from './harness.ts';

const redisUrl = testRedis!;
const WINDOW_MS = 600_000;
const PER_KEY = 3;
const PER_ORG = 7;
/** seconds until a drained key's bucket gives one request back */
const KEY_INTERVAL_S = WINDOW_MS / PER_KEY / 1000;
const RESET_WINDOW_MS = 1_000;

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
    // org A: a1, a2 and an agent (3 of its 7 requests); org B: its admin key; org C: c1, c2 (2 of 7)
    let a1: string;
    let a2: string;
    let b: string;
    let c1: string;
    let c2: string;
    let agentId: string;
    const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
    const redis = store === 'redis' ? { redisUrl, redisKeyPrefix: prefix } : {};
    before(async () => {
      s = await startServer('pglite', { rateLimitPerKey: PER_KEY, rateLimitPerOrg: PER_ORG, rateLimitWindowMs: WINDOW_MS, ...redis });
      // The platform admin's key: 3 requests, its whole bucket.
      const [orgA, orgB, orgC] = [await createOrg(s.api, 'limited-a'), await createOrg(s.api, 'limited-b'), await createOrg(s.api, 'limited-c')];
      a1 = (await s.api('POST', '/api/v1/api-keys', { key: orgA.key, body: { name: 'a1', role: 'member' } })).body.key;
      a2 = (await s.api('POST', '/api/v1/api-keys', { key: orgA.key, body: { name: 'a2', role: 'member' } })).body.key;
      agentId = (await s.api('POST', '/api/v1/agents', { key: orgA.key, body: { name: 'limited' } })).body.id;
      b = orgB.key;
      c1 = (await s.api('POST', '/api/v1/api-keys', { key: orgC.key, body: { name: 'c1', role: 'member' } })).body.key;
      c2 = (await s.api('POST', '/api/v1/api-keys', { key: orgC.key, body: { name: 'c2', role: 'member' } })).body.key;
      assert.ok(a1 && a2 && agentId && c1 && c2, 'setup within the budget');
    });
    after(async () => {
      await s?.close();
      if (store === 'redis') await dropPrefix(prefix);
    });

    /** Retry-After of a drained key: the wait for one request back, in whole seconds. */
    const assertKeyRetryAfter = (value: string | null | undefined) => {
      const seconds = Number(value);
      assert.ok(seconds > KEY_INTERVAL_S - 60 && seconds <= KEY_INTERVAL_S, `Retry-After ${value}: about ${KEY_INTERVAL_S} s`);
    };

    test('per key: the N+1-th is 429 with Retry-After, on every route behind a key; another key of the org and another org go on', async () => {
      for (let i = 0; i < PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: a1 })).status, 200, `request ${i + 1}`);
      const over = await s.api('GET', '/api/v1/agents', { key: a1 });
      assert.equal(over.status, 429);
      assert.equal(over.body.error.code, 'rate_limited');
      assert.match(over.body.error.message, /for this API key/);
      assertKeyRetryAfter(over.headers.get('retry-after'));
      // Every route behind a key is limited, whatever its body: refused before the body is read.
      assert.equal((await s.api('POST', '/api/v1/memories', { key: a1, raw: '{not json', headers: { 'content-type': 'application/json' } })).status, 429);
      // The OpenAI-compatible routes too, in OpenAI's error shape.
      const openai = await s.api('GET', '/v1/models', { key: a1 });
      assert.equal(openai.status, 429);
      assert.equal(openai.body.error.code, 'rate_limited');
      assert.equal(typeof openai.body.error.type, 'string');
      assertKeyRetryAfter(openai.headers.get('retry-after'));
      // A WebSocket upgrade with the key in its header is a request of that key.
      const ws = await wsStatus(`${s.url.replace('http', 'ws')}/api/v1/agents/${agentId}/chat/ws`, a1);
      assert.equal(ws.status, 429);
      assertKeyRetryAfter(ws.retryAfter);
      // Not limited: routes without a key.
      assert.equal((await s.api('GET', '/health', { key: null })).status, 200);

      // org A: 3 (setup) + 3 (a1) + this one = 7, its limit: the refusals above took nothing.
      assert.equal((await s.api('GET', '/api/v1/agents', { key: a2 })).status, 200, 'another key of the org');
      assert.equal((await s.api('GET', '/api/v1/agents', { key: b })).status, 200, 'another org');
    });

    test('per organization: all its keys together; refused requests take nothing', async () => {
      // org C: 2 (setup) + 3 (c1) = 5 of 7
      for (let i = 0; i < PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: c1 })).status, 200);
      assert.equal((await s.api('GET', '/api/v1/agents', { key: c1 })).status, 429, 'key limit; the org is not charged');
      for (let i = 0; i < PER_ORG - 2 - PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: c2 })).status, 200);
      // c2 has a request left; org C has none
      const over = await s.api('GET', '/api/v1/agents', { key: c2 });
      assert.equal(over.status, 429);
      assert.match(over.body.error.message, /for this organization/);
      assert.ok(Number(over.headers.get('retry-after')) >= 1);
      assert.equal((await s.api('GET', '/api/v1/agents', { key: b })).status, 200, 'another org');
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

  describe(`rate limits reset after the window (${store})`, { skip: store === 'redis' && needsRedis }, () => {
    let s: TestServer;
    const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
    before(async () => {
      s = await startServer('pglite', {
        rateLimitPerKey: PER_KEY,
        rateLimitWindowMs: RESET_WINDOW_MS,
        ...(store === 'redis' ? { redisUrl, redisKeyPrefix: prefix } : {}),
      });
    });
    after(async () => {
      await s?.close();
      if (store === 'redis') await dropPrefix(prefix);
    });

    test('a drained key has its whole limit again one window later', async () => {
      const org = await createOrg(s.api, 'resets');
      // Drain: requests until one is refused (the bucket refills one every window / limit meanwhile).
      let sent = 0;
      while ((await s.api('GET', '/api/v1/agents', { key: org.key })).status !== 429) assert.ok(++sent < 100, 'no 429 in 100 requests');
      console.log(`# drained after ${sent} requests`);
      assert.ok(sent >= PER_KEY);
      await sleep(RESET_WINDOW_MS + 200);
      for (let i = 0; i < PER_KEY; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: org.key })).status, 200, `after the window, ${i + 1}`);
    });
  });
}

describe('rate limits (redis, two instances on one database)', { skip: (!engines.includes('postgres') && 'needs PostgreSQL') || needsRedis }, () => {
  let one: TestServer;
  let two: TestServer;
  const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
  const limits = { rateLimitPerKey: PER_KEY, rateLimitWindowMs: WINDOW_MS, redisUrl, redisKeyPrefix: prefix };
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

  test("a WebSocket's auth and turns count in the same shared bucket", async () => {
    const org = await createOrg(one.api, 'shared-ws');
    const agent = (await one.api('POST', '/api/v1/agents', { key: org.key, body: { name: 'ws', llm: { provider: 'simulated' }, memory: { extract: false } } }))
      .body;
    assert.ok(agent.id); // 1 of 3, on one
    const ws = new WebSocket(`${two.url.replace('http', 'ws')}/api/v1/agents/${agent.id}/chat/ws`);
    const events: ChatEventLike[] = [];
    const next = async () => {
      while (!events.length) await sleep(10);
      return events.shift()!;
    };
    const turnEnd = async () => {
      ws.send(JSON.stringify({ type: 'chat', message: 'hi' }));
      for (;;) {
        const e = await next();
        if (e.chunk_type === 'done' || e.chunk_type === 'error') return e;
      }
    };
    ws.on('message', (d) => events.push(JSON.parse(d.toString()) as ChatEventLike));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'auth', api_key: org.key })); // 2, on two
    assert.equal((await turnEnd()).chunk_type, 'done'); // 3, on two
    const over = await turnEnd();
    assert.deepEqual([over.code, over.retryable], ['rate_limited', true]);
    assert.equal((await one.api('GET', '/api/v1/agents', { key: org.key })).status, 429);
    ws.close();
  });
});
