// Tenant isolation over HTTP, on both engines: every endpoint (the list is checked
// against the OpenAPI document, so a new route must be added here) called with another
// organization's key and with no key. Another org gets 404 or empty lists / results and
// never a byte of this org's data; no key is 401; nothing another org sends changes or
// deletes anything (the owner's view is compared before and after).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createOrg, engines, readSse, startServer, type ChatEventLike, type TestServer } from './harness.ts';

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };
/** Strings only the owner's data holds: none may appear in anything another org receives. */
const MARK = 'zqxmark';

interface Call {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** what another org gets: 404 by default; 'empty' = 200 with no owner data; a status */
  other?: number | 'empty';
}

interface Owner {
  orgId: string;
  key: string;
  keyId: string;
  agentId: string;
  sessionId: string;
  messageId: string;
  memoryId: string;
  userId: string;
  webhookId: string;
  deliveryId: string;
}

/** Every endpoint, aimed at the owner's resources. */
function calls(o: Owner, otherAgentId: string): Call[] {
  const chat = { message: 'hello' };
  return [
    { method: 'GET', path: '/api/v1/me', other: 200 }, // the caller's own key
    { method: 'GET', path: '/metrics', other: 403 }, // every tenant's figures: the platform admin's only
    { method: 'POST', path: '/api/v1/organizations', body: { name: 'x' }, other: 403 },
    { method: 'GET', path: '/api/v1/organizations', other: 'empty' },
    { method: 'GET', path: `/api/v1/organizations/${o.orgId}` },
    { method: 'PATCH', path: `/api/v1/organizations/${o.orgId}`, body: { name: 'stolen' } },

    { method: 'POST', path: '/api/v1/api-keys', body: { name: 'x' }, other: 201 }, // a key of the caller's own org
    { method: 'GET', path: '/api/v1/api-keys', other: 'empty' },
    { method: 'GET', path: `/api/v1/api-keys/${o.keyId}` },
    { method: 'DELETE', path: `/api/v1/api-keys/${o.keyId}` },

    { method: 'POST', path: '/api/v1/users', body: { id: o.userId, name: 'x' }, other: 201 }, // same id, the caller's own org
    { method: 'GET', path: '/api/v1/users', other: 'empty' },
    { method: 'GET', path: `/api/v1/users/${o.userId}`, other: 200 }, // the caller's own user of that id, just created
    { method: 'PATCH', path: `/api/v1/users/${o.userId}`, body: { name: 'y' }, other: 200 },
    { method: 'DELETE', path: `/api/v1/users/${o.userId}`, other: 200 },
    { method: 'GET', path: `/api/v1/users/${o.userId}` },
    { method: 'PATCH', path: `/api/v1/users/${o.userId}`, body: { name: 'y' } },
    { method: 'DELETE', path: `/api/v1/users/${o.userId}` },

    { method: 'POST', path: '/api/v1/agents', body: { name: 'mine' }, other: 201 },
    { method: 'GET', path: '/api/v1/agents', other: 'empty' },
    { method: 'GET', path: `/api/v1/agents/${o.agentId}` },
    { method: 'PATCH', path: `/api/v1/agents/${o.agentId}`, body: { name: 'stolen' } },
    { method: 'DELETE', path: `/api/v1/agents/${o.agentId}` },

    { method: 'POST', path: `/api/v1/agents/${o.agentId}/sessions`, body: {} },
    { method: 'GET', path: `/api/v1/agents/${o.agentId}/sessions` },
    { method: 'GET', path: `/api/v1/sessions/${o.sessionId}` },
    { method: 'GET', path: `/api/v1/sessions/${o.sessionId}/messages` },
    { method: 'DELETE', path: `/api/v1/sessions/${o.sessionId}` },
    // importing into another org's agent: 404, nothing stored
    {
      method: 'POST',
      path: '/api/v1/sessions/import',
      body: { agent_id: o.agentId, user_id: o.userId, messages: [{ role: 'user', content: `${MARK} planted`, created_at: '2024-01-01T00:00:00Z' }] },
    },
    { method: 'POST', path: '/api/v1/memories/search', body: { query: `${MARK} memory`, agent_id: o.agentId, scope: 'both' } },

    { method: 'POST', path: `/api/v1/agents/${o.agentId}/chat`, body: chat },
    { method: 'POST', path: `/api/v1/agents/${o.agentId}/chat/stream`, body: chat },
    { method: 'GET', path: `/api/v1/agents/${o.agentId}/chat/stream/${o.messageId}` },
    {
      method: 'POST',
      path: `/api/v1/agents/${o.agentId}/chat/ui`,
      body: { id: 'c1', messages: [{ id: 'm', role: 'user', parts: [{ type: 'text', text: 'hi' }] }] },
    },
    // The caller's own agent, the owner's session or held stream.
    { method: 'POST', path: `/api/v1/agents/${otherAgentId}/chat`, body: { ...chat, session_id: o.sessionId } },
    { method: 'POST', path: `/api/v1/agents/${otherAgentId}/chat/stream`, body: { ...chat, session_id: o.sessionId } },
    { method: 'GET', path: `/api/v1/agents/${otherAgentId}/chat/stream/${o.messageId}` },
    {
      method: 'POST',
      path: `/api/v1/agents/${otherAgentId}/chat/ui`,
      body: { session_id: o.sessionId, messages: [{ id: 'm', role: 'user', parts: [{ type: 'text', text: 'hi' }] }] },
    },

    // Memory for an app's own model: another org's agent, or the owner's session through the caller's own agent;
    // the caller's own agent for a user of the owner's id recalls none of the owner's memories.
    { method: 'POST', path: `/api/v1/agents/${o.agentId}/context`, body: { message: 'memory of the owner', user_id: o.userId } },
    { method: 'POST', path: `/api/v1/agents/${o.agentId}/exchanges`, body: { message: 'planted', answer: 'planted', user_id: o.userId } },
    { method: 'POST', path: `/api/v1/agents/${otherAgentId}/context`, body: { message: 'memory of the owner', session_id: o.sessionId } },
    { method: 'POST', path: `/api/v1/agents/${otherAgentId}/exchanges`, body: { message: 'planted', answer: 'planted', session_id: o.sessionId } },
    { method: 'POST', path: `/api/v1/agents/${otherAgentId}/context`, body: { message: 'memory of the owner', user_id: o.userId }, other: 200 },

    { method: 'POST', path: '/api/v1/memories', body: { content: 'planted', agent_id: o.agentId } },
    { method: 'POST', path: '/api/v1/memories/batch', body: { agent_id: o.agentId, memories: [{ content: 'planted' }] } },
    { method: 'GET', path: '/api/v1/memories', other: 'empty' },
    { method: 'GET', path: `/api/v1/memories?agent_id=${o.agentId}` }, // another org's agent: 404, as with search
    { method: 'GET', path: `/api/v1/memories?user_id=${o.userId}`, other: 'empty' },
    { method: 'POST', path: '/api/v1/memories/search', body: { query: `${MARK} memory` }, other: 'empty' },
    { method: 'POST', path: '/api/v1/memories/search', body: { query: `${MARK} memory`, agent_id: o.agentId } },
    { method: 'POST', path: '/api/v1/memories/search', body: { query: `${MARK} memory`, user_id: o.userId }, other: 'empty' },
    { method: 'GET', path: `/api/v1/memories/${o.memoryId}` },
    { method: 'PATCH', path: `/api/v1/memories/${o.memoryId}`, body: { content: 'stolen' } },
    { method: 'GET', path: `/api/v1/memories/${o.memoryId}/history` },
    { method: 'DELETE', path: `/api/v1/memories/${o.memoryId}` },

    { method: 'GET', path: `/api/v1/agents/${o.agentId}/working-memory/${o.userId}` },
    { method: 'PUT', path: `/api/v1/agents/${o.agentId}/working-memory/${o.userId}`, body: { content: 'stolen' } },
    // The caller's own agent, a user of the same id: its own (empty) block, none of the owner's.
    { method: 'GET', path: `/api/v1/agents/${otherAgentId}/working-memory/${o.userId}`, other: 200 },

    { method: 'POST', path: '/api/v1/webhooks', body: { url: 'http://127.0.0.1:9/theirs', events: ['memory.created'] }, other: 201 }, // the caller's own
    { method: 'GET', path: '/api/v1/webhooks', other: 'empty' },
    { method: 'GET', path: `/api/v1/webhooks/${o.webhookId}` },
    { method: 'PATCH', path: `/api/v1/webhooks/${o.webhookId}`, body: { url: 'http://127.0.0.1:9/stolen' } },
    { method: 'POST', path: `/api/v1/webhooks/${o.webhookId}/rotate-secret` },
    { method: 'GET', path: `/api/v1/webhooks/${o.webhookId}/deliveries` },
    { method: 'GET', path: `/api/v1/webhooks/${o.webhookId}/deliveries/${o.deliveryId}` },
    { method: 'POST', path: `/api/v1/webhooks/${o.webhookId}/deliveries/${o.deliveryId}/redeliver` },
    { method: 'DELETE', path: `/api/v1/webhooks/${o.webhookId}` },

    { method: 'GET', path: '/v1/models', other: 'empty' },
    { method: 'GET', path: `/v1/models/${o.agentId}` },
    { method: 'POST', path: '/v1/chat/completions', body: { model: o.agentId, messages: [{ role: 'user', content: 'hi' }] } },
    { method: 'POST', path: '/v1/chat/completions', body: { model: o.agentId, stream: true, messages: [{ role: 'user', content: 'hi' }] } },
    {
      method: 'POST',
      path: '/v1/chat/completions',
      body: { model: otherAgentId, messages: [{ role: 'user', content: 'hi' }] },
      headers: { 'x-session-id': o.sessionId },
    },

    // The memory MCP server: a JSON-RPC call each; an error result or nothing, never the owner's memory.
    ...[
      { name: 'memory_search', arguments: { query: `${MARK} memory` } },
      { name: 'memory_search', arguments: { query: `${MARK} memory`, agent_id: o.agentId, user_id: o.userId } },
      { name: 'memory_history', arguments: { memory_id: o.memoryId } },
      { name: 'memory_update', arguments: { memory_id: o.memoryId, content: 'stolen' } },
      { name: 'memory_delete', arguments: { memory_id: o.memoryId } },
      { name: 'memory_add', arguments: { content: 'planted', agent_id: o.agentId } },
    ].map((params) => ({
      method: 'POST',
      path: '/mcp',
      body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params },
      headers: { accept: 'application/json, text/event-stream' },
      other: 200,
    })),
  ];
}

/** Routes with no key at all: not behind the API key. */
const PUBLIC = new Set(['GET /health', 'GET /ready', 'GET /docs']);

for (const engine of engines) {
  describe(`isolation on ${engine}`, () => {
    let s: TestServer;
    let o: Owner;
    let other: { id: string; key: string; agentId: string };
    let list: Call[];

    /** Everything the owner can see, as the owner sees it. */
    async function ownerView() {
      const get = async (path: string) => {
        const res = await s.api('GET', path, { key: o.key });
        return { status: res.status, body: res.body };
      };
      return {
        org: await get(`/api/v1/organizations/${o.orgId}`),
        keys: await get('/api/v1/api-keys'),
        users: await get('/api/v1/users'),
        user: await get(`/api/v1/users/${o.userId}`),
        agents: await get('/api/v1/agents'),
        agent: await get(`/api/v1/agents/${o.agentId}`),
        sessions: await get(`/api/v1/agents/${o.agentId}/sessions`),
        session: await get(`/api/v1/sessions/${o.sessionId}`),
        messages: await get(`/api/v1/sessions/${o.sessionId}/messages`),
        memories: await get('/api/v1/memories'),
        memory: await get(`/api/v1/memories/${o.memoryId}`),
        history: await get(`/api/v1/memories/${o.memoryId}/history`),
        working: await get(`/api/v1/agents/${o.agentId}/working-memory/${o.userId}`),
        webhook: await get(`/api/v1/webhooks/${o.webhookId}`),
        // what changes on its own (a failing delivery's attempts) left out
        deliveries: (await get(`/api/v1/webhooks/${o.webhookId}/deliveries`)).body.data.map((d: { id: string; event: string }) => [d.id, d.event]),
        models: await get('/v1/models'),
      };
    }

    before(async () => {
      s = await startServer(engine);
      const org = await createOrg(s.api, `owner ${MARK}`);
      const as = (method: string, path: string, body?: unknown) => s.api(method, path, { key: org.key, body });
      const keyId = (await as('GET', '/api/v1/api-keys')).body.data[0].id;
      const userId = 'user-owner';
      await as('POST', '/api/v1/users', { id: userId, name: `name ${MARK}` });
      const agentId = (await as('POST', '/api/v1/agents', { name: `agent ${MARK}`, system_prompt: `prompt ${MARK}`, llm: fast })).body.id;
      const res = await fetch(`${s.url}/api/v1/agents/${agentId}/chat/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${org.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: `said ${MARK}`, user_id: userId }),
      });
      const events = (await readSse(res)).map((f) => f.data);
      const start = events.find((e) => e.chunk_type === 'start');
      const memoryId = (
        await as('POST', '/api/v1/memories', { content: `${MARK} memory of the owner`, agent_id: agentId, user_id: userId, metadata: { m: MARK } })
      ).body.id;
      await as('PATCH', `/api/v1/memories/${memoryId}`, { metadata: { m: MARK, v: 2 } });
      assert.equal((await as('PUT', `/api/v1/agents/${agentId}/working-memory/${userId}`, { content: `notes ${MARK}` })).status, 200);
      const webhookId = (await as('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/owner', events: ['memory.updated'], description: `hook ${MARK}` }))
        .body.id;
      await as('PATCH', `/api/v1/memories/${memoryId}`, { metadata: { m: MARK, v: 3 } });
      const deliveryId = (await as('GET', `/api/v1/webhooks/${webhookId}/deliveries`)).body.data[0].id;
      o = { orgId: org.id, key: org.key, keyId, agentId, sessionId: start.session_id, messageId: start.message_id, memoryId, userId, webhookId, deliveryId };
      const created = await createOrg(s.api, 'other');
      const otherAgent = (await s.api('POST', '/api/v1/agents', { key: created.key, body: { name: 'theirs', llm: fast } })).body.id;
      other = { ...created, agentId: otherAgent };
      list = calls(o, other.agentId);
      assert.ok((await ownerView()).messages.body.data.length >= 2, 'the owner has a stored turn');
    });
    after(() => s?.close());

    test('the list covers every documented route', async () => {
      const doc = (await s.api('GET', '/docs/json', { key: null })).body;
      assert.ok(Object.keys(doc.paths).length >= 15, 'the OpenAPI document lists the routes');
      const covered = new Set(list.map((c) => `${c.method} ${c.path.split('?')[0]!.replace(/[0-9a-f-]{36}|user-\w+|msg_[0-9a-f]{32}/g, '{}')}`));
      const missing: string[] = [];
      for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
        for (const method of Object.keys(ops)) {
          const key = `${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`;
          if (!covered.has(key) && !PUBLIC.has(key)) missing.push(key);
        }
      }
      assert.deepEqual(missing, [], 'routes not called by this suite');
    });

    test('no key, or a key that is not one: 401 on every endpoint, JSON error', async () => {
      for (const c of list) {
        for (const key of [null, 'am_not_a_real_key']) {
          const res = await s.api(c.method, c.path, { key, body: c.body, headers: c.headers });
          const what = `${c.method} ${c.path} key=${key}`;
          assert.equal(res.status, 401, `${what} → ${res.status} ${JSON.stringify(res.body)}`);
          const isOpenai = c.path.startsWith('/v1/');
          assert.equal(res.body.error.code, isOpenai ? 'invalid_api_key' : 'unauthorized', what);
          assert.equal(typeof res.body.error.message, 'string', what);
          if (isOpenai) assert.equal(typeof res.body.error.type, 'string', what);
        }
      }
    });

    test("another org: 404 or empty, never the owner's data, and nothing of the owner's changes", async () => {
      const beforeView = await ownerView();
      for (const c of list) {
        const res = await s.api(c.method, c.path, { key: other.key, body: c.body, headers: c.headers });
        const what = `${c.method} ${c.path} ${JSON.stringify(c.body ?? '')}`;
        const text = JSON.stringify(res.body ?? '');
        assert.ok(!text.includes(MARK), `${what} leaked: ${text.slice(0, 300)}`);
        assert.ok(!text.includes(o.memoryId) && !text.includes(o.messageId), `${what} leaked an id`);
        const expected = c.other ?? 404;
        if (expected === 'empty') {
          assert.equal(res.status, 200, `${what} → ${res.status} ${text.slice(0, 200)}`);
          const items = res.body.data ?? res.body.results;
          assert.ok(Array.isArray(items), what);
          for (const item of items) assert.ok(![o.orgId, o.agentId, o.keyId, o.memoryId].includes(item.id), `${what} listed the owner's ${item.id}`);
          if (c.path.startsWith('/api/v1/organizations'))
            assert.deepEqual(
              items.map((x: { id: string }) => x.id),
              [other.id],
            );
        } else {
          assert.equal(res.status, expected, `${what} → ${res.status} ${text.slice(0, 200)}`);
          if (expected >= 400) {
            assert.equal(typeof res.body.error.code, 'string', what);
            assert.equal(typeof res.body.error.message, 'string', what);
          }
        }
      }
      assert.deepEqual(await ownerView(), beforeView, "the owner's view is unchanged");
      // The owner's key still works: it was not revoked.
      assert.equal((await s.api('GET', '/api/v1/agents', { key: o.key })).status, 200);
    });

    test("WebSocket: another org's key is a 404 before the upgrade, or a 4404 close; no key is 401 / 4401", async () => {
      const url = `${s.url.replace('http', 'ws')}/api/v1/agents/${o.agentId}/chat/ws`;
      const refused = (headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const ws = new WebSocket(url, { headers });
          ws.once('unexpected-response', (_req, res) => {
            resolve(res.statusCode ?? 0);
            res.resume();
            ws.terminate();
          });
          ws.once('open', () => reject(new Error('upgraded')));
          ws.once('error', reject);
        });
      assert.equal(await refused({ authorization: `Bearer ${other.key}` }), 404);
      assert.equal(await refused({ authorization: 'Bearer am_not_a_real_key' }), 401);

      /** Opens without a header, sends messages, collects what comes back until the close. */
      const session = (messages: unknown[]) =>
        new Promise<{ code: number; events: ChatEventLike[] }>((resolve, reject) => {
          const ws = new WebSocket(url);
          const events: ChatEventLike[] = [];
          ws.on('message', (d) => events.push(JSON.parse(d.toString()) as ChatEventLike));
          ws.once('open', () => messages.forEach((m) => ws.send(JSON.stringify(m))));
          ws.once('close', (code) => resolve({ code, events }));
          ws.once('error', reject);
        });
      const asOther = await session([
        { type: 'auth', api_key: other.key },
        { type: 'chat', message: 'hi', session_id: o.sessionId },
      ]);
      assert.equal(asOther.code, 4404);
      assert.ok(!JSON.stringify(asOther.events).includes(MARK));
      assert.ok(!asOther.events.some((e) => e.chunk_type === 'start' || e.chunk_type === 'content'));
      const noKey = await session([{ type: 'chat', message: 'hi' }]);
      assert.equal(noKey.code, 4401);
      const badKey = await session([{ type: 'auth', api_key: 'am_not_a_real_key' }]);
      assert.equal(badKey.code, 4401);

      // With its own agent, another org still cannot continue the owner's session.
      const ownUrl = `${s.url.replace('http', 'ws')}/api/v1/agents/${other.agentId}/chat/ws`;
      const ws = new WebSocket(ownUrl, { headers: { authorization: `Bearer ${other.key}` } });
      const first = await new Promise<ChatEventLike>((resolve, reject) => {
        ws.once('open', () => ws.send(JSON.stringify({ type: 'chat', message: 'hi', session_id: o.sessionId })));
        ws.once('message', (d) => resolve(JSON.parse(d.toString()) as ChatEventLike));
        ws.once('error', reject);
      });
      ws.close();
      assert.equal(first.chunk_type, 'error');
      assert.equal(first.code, 'not_found');
      assert.equal((await s.api('GET', `/api/v1/sessions/${o.sessionId}/messages`, { key: o.key })).body.data.length, 2, 'no turn was added');
    });
  });
}
