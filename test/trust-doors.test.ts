// Every door counts against the rate limit, and tenants stay out of /metrics (issue 24,
// items 3 and 4), over real sockets on both engines:
// - one bucket per key and per organization for REST, /v1/chat/completions, /mcp, a
//   WebSocket's auth and each of its turns; a turn over the limit is a retryable
//   `rate_limited` event with `retry_after`, and the socket takes the next turn once it has
//   waited; scoped keys are limited by default (120 per window);
// - before its key is known a socket may send only a small auth message, soon;
// - /metrics takes the platform admin key or AGENTMEM_METRICS_TOKEN, and no tenant's model
//   name becomes a label: past the known names every model is "other";
// - a config string that would become a label (a 20,000-character model) is a 400.
//
// Timing: the limited servers use a 10-minute window (one request back every 2 min per key),
// so nothing refills mid-test; the one that shows a socket recovering uses a 3 s window and
// waits for the `retry_after` it was told, never racing the refill.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { KNOWN_MODELS } from '../src/trace/model-label.ts';
import { createOrg, engines, startServer, type TestServer } from './harness.ts';
import { WsClient } from './ws-client.ts';

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };
const quiet = { memory: { extract: false } };

const wsUrl = (s: TestServer, agentId: string) => `${s.url.replace(/^http/, 'ws')}/api/v1/agents/${agentId}/chat/ws`;
const mcpCall = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
const mcpHeaders = { accept: 'application/json, text/event-stream' };

for (const engine of engines) {
  describe(`every door counts on ${engine}`, () => {
    // 5 per key, 8 per org, per 10 minutes: a drained key waits 120 s.
    let s: TestServer;
    let orgA: { id: string; key: string };
    let agentA: string;
    let m1: string;
    let m2: string;
    before(async () => {
      s = await startServer(engine, { rateLimitPerKey: 5, rateLimitPerOrg: 8, rateLimitWindowMs: 600_000 });
      orgA = await createOrg(s.api, 'doors-a'); // the platform admin key: 1 of 5
      const admin = (method: string, path: string, body: unknown) => s.api(method, path, { key: orgA.key, body });
      agentA = (await admin('POST', '/api/v1/agents', { name: 'a', llm: fast, ...quiet })).body.id; // org A: 1 of 8
      m1 = (await admin('POST', '/api/v1/api-keys', { name: 'm1', role: 'member' })).body.key; // 2
      m2 = (await admin('POST', '/api/v1/api-keys', { name: 'm2', role: 'member' })).body.key; // 3
      assert.ok(agentA && m1 && m2);
    });
    after(() => s?.close());

    test('REST, the OpenAI route, /mcp, a WebSocket auth and its turns draw from one bucket per key and per organization', async () => {
      assert.equal((await s.api('GET', '/api/v1/agents', { key: m1 })).status, 200); // m1 1, org 4
      const completion = await s.api('POST', '/v1/chat/completions', { key: m1, body: { model: agentA, messages: [{ role: 'user', content: 'hi' }] } });
      assert.equal(completion.status, 200, JSON.stringify(completion.body)); // m1 2, org 5
      const mcp = await s.api('POST', '/mcp', { key: m1, body: mcpCall, headers: mcpHeaders });
      assert.equal(mcp.status, 200, JSON.stringify(mcp.body)); // m1 3, org 6

      const ws = new WsClient(wsUrl(s, agentA));
      await ws.upgraded;
      ws.send({ type: 'auth', api_key: m1 }); // m1 4, org 7
      assert.equal((await ws.turn()).chunk_type, 'done'); // m1 5, org 8
      const over = await ws.turn();
      assert.equal(over.chunk_type, 'error');
      assert.equal(over.code, 'rate_limited');
      assert.equal(over.retryable, true);
      assert.match(over.message, /Rate limit of 5 requests per 600 s for this API key/);
      assert.ok(over.retry_after > 60 && over.retry_after <= 120, `retry_after ${over.retry_after}: about 600 s / 5`);
      assert.equal(ws.ws.readyState, WebSocket.OPEN, 'the socket stays open');

      // The same bucket over HTTP; and the org's, with all its keys: m2 has 5 left, org A none.
      const http = await s.api('GET', '/api/v1/agents', { key: m1 });
      assert.equal(http.status, 429);
      const org = await s.api('GET', '/api/v1/agents', { key: m2 });
      assert.equal(org.status, 429);
      assert.match(org.body.error.message, /for this organization/);
      ws.ws.close();
    });

    test('a socket with its key in the header: the upgrade counts one, each turn one; past the limit every turn is refused, none runs', async () => {
      const orgB = await createOrg(s.api, 'doors-b'); // the platform admin key: 2 of 5
      const agentB = (await s.api('POST', '/api/v1/agents', { key: orgB.key, body: { name: 'b', llm: fast, ...quiet } })).body.id; // B 1
      const ws = new WsClient(wsUrl(s, agentB), { authorization: `Bearer ${orgB.key}` }); // B 2
      await ws.upgraded;
      const ends: string[] = [];
      for (let i = 0; i < 12; i++) {
        const end = await ws.turn(`turn ${i}`);
        ends.push(end.chunk_type === 'done' ? 'done' : end.code);
      }
      assert.deepEqual(ends, [...Array(3).fill('done'), ...Array(9).fill('rate_limited')]);
      ws.ws.close();
    });
  });

  describe(`a rate-limited socket takes the next turn once it has waited, on ${engine}`, () => {
    // 2 per key per 3 s: one request back every 1.5 s.
    let s: TestServer;
    before(async () => {
      s = await startServer(engine, { rateLimitPerKey: 2, rateLimitWindowMs: 3_000 });
    });
    after(() => s?.close());

    test('rate_limited with retry_after; after waiting it, the same socket answers again', async () => {
      const org = await createOrg(s.api, 'doors-wait');
      await sleep(3_100); // the org key's bucket full again after its setup
      const agent = (await s.api('POST', '/api/v1/agents', { key: org.key, body: { name: 'w', llm: fast, ...quiet } })).body.id;
      assert.ok(agent);
      const ws = new WsClient(wsUrl(s, agent));
      await ws.upgraded;
      ws.send({ type: 'auth', api_key: org.key });
      let over: { chunk_type: string; code: string; retryable: boolean; retry_after: number } | undefined;
      for (let i = 0; i < 20 && !over; i++) {
        const end = await ws.turn();
        if (end.chunk_type === 'error') over = end;
        else assert.equal(end.chunk_type, 'done');
      }
      assert.ok(over, 'no turn was refused in 20');
      assert.equal(over.code, 'rate_limited');
      assert.equal(over.retryable, true);
      assert.ok(Number.isInteger(over.retry_after) && over.retry_after >= 1 && over.retry_after <= 2, `retry_after ${over.retry_after}`);
      await sleep(over.retry_after * 1000 + 100);
      assert.equal((await ws.turn('after waiting')).chunk_type, 'done');
      ws.ws.close();
    });
  });

  describe(`scoped keys, pre-auth sockets and /metrics on ${engine}`, () => {
    // No AGENTMEM_RATE_LIMIT: only the scoped keys' default limit (120 per window). An hour's
    // window: one request back every 30 s, so the 121st is refused however slow the machine.
    const metricsToken = 'mt_' + randomBytes(16).toString('hex');
    let s: TestServer;
    let org: { id: string; key: string };
    let agent: string;
    let memberKey: string;
    let scopedKey: string;
    before(async () => {
      s = await startServer(engine, { rateLimitWindowMs: 3_600_000, metricsToken, metricsModels: ['house-model'] });
      org = await createOrg(s.api, 'doors-scoped');
      const admin = (method: string, path: string, body: unknown) => s.api(method, path, { key: org.key, body });
      agent = (await admin('POST', '/api/v1/agents', { name: 'plain', llm: fast, ...quiet })).body.id;
      memberKey = (await admin('POST', '/api/v1/api-keys', { name: 'member', role: 'member' })).body.key;
      await admin('POST', '/api/v1/users', { id: 'ada' });
      scopedKey = (await admin('POST', '/api/v1/api-keys', { name: 'web:ada', user_id: 'ada', agent_ids: [agent] })).body.key;
      assert.ok(agent && memberKey && scopedKey);
    });
    after(() => s?.close());

    test('a scoped key is limited by default (120 per window); admin and member keys are not', async () => {
      for (let i = 0; i < 120; i++) {
        const res = await s.api('GET', '/api/v1/agents', { key: scopedKey });
        assert.equal(res.status, 200, `request ${i + 1}`);
      }
      const over = await s.api('GET', '/api/v1/agents', { key: scopedKey });
      assert.equal(over.status, 429);
      assert.match(over.body.error.message, /Rate limit of 120 requests per 3600 s for this API key/);
      assert.ok(Number(over.headers.get('retry-after')) > 0);
      // Its WebSocket turns too.
      const ws = new WsClient(wsUrl(s, agent));
      await ws.upgraded;
      ws.send({ type: 'auth', api_key: scopedKey });
      const refused = await ws.next();
      assert.deepEqual([refused.code, refused.retryable], ['rate_limited', true]);
      assert.equal(await ws.closedWithin(3_000), 1013, 'the auth itself is over the limit: try again later');
      for (let i = 0; i < 130; i++) assert.equal((await s.api('GET', '/api/v1/agents', { key: memberKey })).status, 200, `member ${i + 1}`);
    });

    test('before its key is known a socket may send a small auth message, nothing else, and soon', async () => {
      const open = async () => {
        const ws = new WsClient(wsUrl(s, agent));
        await ws.upgraded;
        return ws;
      };
      // 900 KB (under the body limit, which still holds once authenticated): closed from the frame's header (1009), never parsed.
      const big = await open();
      big.send({ type: 'chat', message: 'x'.repeat(900_000) });
      assert.equal(await big.closedWithin(3_000), 1009);
      // Even shaped as an auth message, over 4 KiB is refused.
      const longAuth = await open();
      longAuth.send({ type: 'auth', api_key: 'k'.repeat(5_000) });
      assert.equal(await longAuth.closedWithin(3_000), 1009);
      // Not JSON, a chat, a binary frame: closed unauthorized, nothing more read.
      for (const first of ['not json', { type: 'chat', message: 'hi' }, Buffer.from([1, 2, 3])]) {
        const ws = await open();
        if (Buffer.isBuffer(first)) ws.ws.send(first, { binary: true });
        else ws.send(first);
        assert.equal(await ws.closedWithin(3_000), 4401, `after ${JSON.stringify(first)}`);
      }
      // Nothing at all: closed within the 5 s deadline.
      const silent = await open();
      assert.equal(await silent.closedWithin(7_000), 4401);
      // Once the key is given, messages as large as the body limit pass (sent at once, unacknowledged).
      const ok = await open();
      ok.send({ type: 'auth', api_key: org.key });
      const done = await ok.turn('lorem '.repeat(2_000));
      assert.equal(done.chunk_type, 'done', JSON.stringify(done));
      ok.ws.close();
    });

    test('/metrics: the platform admin key or AGENTMEM_METRICS_TOKEN; no other key, no key, no wrong token', async () => {
      const scrape = (authorization?: string) => fetch(`${s.url}/metrics`, { headers: authorization ? { authorization } : {} });
      assert.equal((await scrape()).status, 401);
      assert.equal((await scrape('Bearer not-the-token-0123456789')).status, 401);
      for (const key of [org.key, memberKey, scopedKey]) {
        const res = await scrape(`Bearer ${key}`);
        assert.equal(res.status, 403);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
      }
      const byAdmin = await scrape(`Bearer ${s.adminKey}`);
      assert.equal(byAdmin.status, 200);
      assert.match(await byAdmin.text(), /agentmem_stage_duration_seconds/);
      assert.equal((await scrape(`Bearer ${metricsToken}`)).status, 200);
    });

    test('no tenant\'s model name becomes a label: 30 private names are one series, "other"; known and operator-named models keep theirs', async () => {
      const models = Array.from({ length: 30 }, (_, i) => `tenantA-private-model-${i}-${randomBytes(3).toString('hex')}`);
      for (const model of [...models, 'gpt-4o-mini', 'house-model']) {
        const created = await s.api('POST', '/api/v1/agents', { key: org.key, body: { name: model.slice(0, 40), llm: { ...fast, model }, ...quiet } });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const chat = await s.api('POST', `/api/v1/agents/${created.body.id}/chat`, { key: org.key, body: { message: 'hi' } });
        assert.equal(chat.status, 200, JSON.stringify(chat.body));
      }
      const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
      assert.ok(!text.includes('tenantA-private'), 'a private model name is in /metrics');
      const series = new Map<string, number>();
      for (const m of text.matchAll(/^agentmem_upstream_first_token_seconds_count\{provider="simulated",model="([^"]*)"\} (\d+)$/gm))
        series.set(m[1]!, Number(m[2]));
      assert.ok((series.get('other') ?? 0) >= 30, `other: ${series.get('other')}`);
      assert.equal(series.get('gpt-4o-mini'), 1);
      assert.equal(series.get('house-model'), 1);
      for (const label of series.keys()) assert.ok(label === 'other' || label === 'house-model' || KNOWN_MODELS.includes(label), `label ${label}`);
      assert.ok(series.size <= 4, `32 models, ${series.size} series: ${[...series.keys()].join(', ')}`);
    });

    test('a model name of 20,000 characters is a 400 naming the field and its limit (create and update)', async () => {
      const long = 'm'.repeat(20_000);
      const created = await s.api('POST', '/api/v1/agents', { key: org.key, body: { name: 'long', llm: { model: long } } });
      assert.equal(created.status, 400);
      assert.equal(created.body.error.code, 'validation_error');
      assert.match(created.body.error.message, /llm\.model: a model name is at most 200 characters/);
      assert.ok(created.body.error.message.length < 500, 'the name is not echoed');
      const patched = await s.api('PATCH', `/api/v1/agents/${agent}`, { key: org.key, body: { llm: { fallback: { model: long } } } });
      assert.equal(patched.status, 400);
      assert.equal(patched.body.error.code, 'validation_error');
      assert.match(patched.body.error.message, /llm\.fallback\.model/);
      const embedder = await s.api('POST', '/api/v1/agents', { key: org.key, body: { name: 'e', memory: { embedder: { model: long } } } });
      assert.equal(embedder.status, 400);
      assert.equal((await s.api('GET', `/api/v1/agents/${agent}`, { key: org.key })).body.llm.fallback, undefined, 'the agent is unchanged');
    });
  });
}
