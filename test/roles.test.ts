// Roles and scoped keys over HTTP, on both engines, held to the table in docs/security.md:
// every route of the OpenAPI document is in the table, and is called with an org admin
// key, a member key and a scoped (end-user) key. ✗ is 403 `forbidden` when the org has
// the resource and 404 when it does not; ✓ and "own" are never 403. Then what a scoped
// key may touch is probed route by route: only its agents, only as its user.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createOrg, engines, startServer, streamChat, type ChatEventLike, type MemoryHit, type MemoryRow, type TestServer } from './harness.ts';

type Cell = '✓' | '✗' | 'own' | 'platform admin';
interface Rule {
  method: string;
  path: string;
  admin: Cell;
  member: Cell;
  scoped: Cell;
}

/** The role table of docs/security.md. */
function roleTable(): Rule[] {
  const doc = readFileSync(new URL('../docs/security.md', import.meta.url), 'utf8');
  return doc
    .split('\n')
    .map((l) => /^\| (GET|POST|PATCH|PUT|DELETE) \| (\S+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/.exec(l.trim()))
    .filter((m) => m !== null)
    .map((m) => ({ method: m[1]!, path: m[2]!, admin: m[3]!.trim() as Cell, member: m[4]!.trim() as Cell, scoped: m[5]!.trim() as Cell }));
}

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };
const PUBLIC = new Set(['GET /health', 'GET /ready', 'GET /docs']);
const norm = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1');

for (const engine of engines) {
  describe(`roles and scoped keys on ${engine}`, () => {
    let s: TestServer;
    let org: { id: string; key: string };
    let memberKey: string;
    let scopedKey: string;
    let scopedKeyId: string;
    let agentA: string; // the scoped key's agent
    let agentB: string; // another agent of the org
    const U = 'ada';
    const V = 'bob';
    let sessionU: string;
    let sessionV: string;
    let messageU: string;
    let memoryU: string;
    let memoryV: string;
    let otherOrg: { id: string; key: string; agentId: string };
    let webhookId: string;
    let deliveryId: string;

    const as = (key: string) => (method: string, path: string, body?: unknown) => s.api(method, path, { key, body });

    before(async () => {
      s = await startServer(engine);
      org = await createOrg(s.api, 'roles');
      const admin = as(org.key);
      memberKey = (await admin('POST', '/api/v1/api-keys', { name: 'member', role: 'member' })).body.key;
      agentA = (await admin('POST', '/api/v1/agents', { name: 'A', system_prompt: 'secret prompt of A', llm: fast })).body.id;
      agentB = (await admin('POST', '/api/v1/agents', { name: 'B', llm: fast })).body.id;
      for (const id of [U, V]) await admin('POST', '/api/v1/users', { id });
      const minted = await admin('POST', '/api/v1/api-keys', {
        name: 'web:ada',
        user_id: U,
        agent_ids: [agentA],
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      });
      assert.equal(minted.status, 201, JSON.stringify(minted.body));
      assert.equal(minted.body.role, 'member');
      assert.deepEqual([minted.body.user_id, minted.body.agent_ids], [U, [agentA]]);
      scopedKey = minted.body.key;
      scopedKeyId = minted.body.id;
      const u = await streamChat({ url: s.url, adminKey: org.key }, agentA, { message: 'I am Ada.', user_id: U });
      const start = u.events.find((e) => e.chunk_type === 'start');
      [sessionU, messageU] = [start.session_id, start.message_id];
      sessionV = (await streamChat({ url: s.url, adminKey: org.key }, agentA, { message: 'I am Bob.', user_id: V })).events[0].session_id;
      memoryU = (await admin('POST', '/api/v1/memories', { content: 'Ada likes tea', agent_id: agentA, user_id: U })).body.id;
      memoryV = (await admin('POST', '/api/v1/memories', { content: 'Bob likes coffee', agent_id: agentA, user_id: V })).body.id;
      // A webhook endpoint (on a closed port: its deliveries fail, which is all this needs) and one delivery.
      webhookId = (await admin('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['memory.created'] })).body.id;
      await admin('POST', '/api/v1/memories', { content: 'for a delivery', agent_id: agentA, user_id: U });
      deliveryId = (await admin('GET', `/api/v1/webhooks/${webhookId}/deliveries`)).body.data[0].id;
      const created = await createOrg(s.api, 'other');
      otherOrg = { ...created, agentId: (await as(created.key)('POST', '/api/v1/agents', { name: 'theirs', llm: fast })).body.id };
    });
    after(() => s?.close());

    /** A request for a route, aimed at the org's own resources (fresh ones for deletes). */
    async function sample(rule: Rule): Promise<{ path: string; body?: unknown }> {
      const admin = as(org.key);
      const fresh = {
        key: async () => (await admin('POST', '/api/v1/api-keys', { name: 'throwaway' })).body.id,
        user: async () => (await admin('POST', '/api/v1/users', {})).body.id,
        agent: async () => (await admin('POST', '/api/v1/agents', { name: 'throwaway', llm: fast })).body.id,
        session: async () => (await admin('POST', `/api/v1/agents/${agentA}/sessions`, { user_id: U })).body.id,
        memory: async () => (await admin('POST', '/api/v1/memories', { content: 'throwaway', agent_id: agentA, user_id: U })).body.id,
        webhook: async () => (await admin('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/throwaway', events: ['memory.deleted'] })).body.id,
      };
      const del = rule.method === 'DELETE';
      const id = async (kind: keyof typeof fresh, existing: string) => (del ? fresh[kind]() : existing);
      const ui = { id: randomUUID(), messages: [{ id: 'm', role: 'user', parts: [{ type: 'text', text: 'hi' }] }] };
      switch (`${rule.method} ${rule.path}`) {
        case 'POST /api/v1/organizations':
          return { path: rule.path, body: { name: 'x' } };
        case 'GET /api/v1/organizations/:id':
        case 'PATCH /api/v1/organizations/:id':
          return { path: `/api/v1/organizations/${org.id}`, body: rule.method === 'PATCH' ? { name: 'roles' } : undefined };
        case 'POST /api/v1/api-keys':
          return { path: rule.path, body: { name: 'x' } };
        case 'GET /api/v1/api-keys/:id':
        case 'DELETE /api/v1/api-keys/:id':
          return { path: `/api/v1/api-keys/${await id('key', scopedKeyId)}` };
        case 'POST /api/v1/users':
          return { path: rule.path, body: {} };
        case 'GET /api/v1/users/:id':
        case 'PATCH /api/v1/users/:id':
        case 'DELETE /api/v1/users/:id':
          return { path: `/api/v1/users/${await id('user', U)}`, body: rule.method === 'PATCH' ? { name: 'Ada' } : undefined };
        case 'POST /api/v1/agents':
          return { path: rule.path, body: { name: 'x', llm: fast } };
        case 'GET /api/v1/agents/:id':
        case 'PATCH /api/v1/agents/:id':
        case 'DELETE /api/v1/agents/:id':
          return { path: `/api/v1/agents/${await id('agent', agentA)}`, body: rule.method === 'PATCH' ? { name: 'A' } : undefined };
        case 'POST /api/v1/agents/:id/sessions':
          return { path: `/api/v1/agents/${agentA}/sessions`, body: {} };
        case 'GET /api/v1/agents/:id/sessions':
          return { path: `/api/v1/agents/${agentA}/sessions` };
        case 'GET /api/v1/sessions/:id':
        case 'DELETE /api/v1/sessions/:id':
          return { path: `/api/v1/sessions/${await id('session', sessionU)}` };
        case 'GET /api/v1/sessions/:id/messages':
          return { path: `/api/v1/sessions/${sessionU}/messages` };
        case 'POST /api/v1/agents/:id/chat':
        case 'POST /api/v1/agents/:id/chat/stream':
          return { path: rule.path.replace(':id', agentA), body: { message: 'hello' } };
        case 'GET /api/v1/agents/:id/chat/stream/:message_id':
          return { path: `/api/v1/agents/${agentA}/chat/stream/${messageU}` };
        case 'POST /api/v1/agents/:id/chat/ui':
          return { path: `/api/v1/agents/${agentA}/chat/ui`, body: ui };
        case 'POST /api/v1/agents/:id/context':
          return { path: `/api/v1/agents/${agentA}/context`, body: { message: 'hello' } };
        case 'POST /api/v1/agents/:id/exchanges':
          return { path: `/api/v1/agents/${agentA}/exchanges`, body: { message: 'hello', answer: 'hi' } };
        case 'POST /api/v1/memories':
          return { path: rule.path, body: { content: 'new', agent_id: agentA } };
        case 'POST /api/v1/memories/batch':
          return { path: rule.path, body: { agent_id: agentA, memories: [{ content: 'new' }] } };
        case 'POST /api/v1/memories/search':
          return { path: rule.path, body: { query: 'tea', agent_id: agentA } };
        case 'GET /api/v1/memories/:id':
        case 'PATCH /api/v1/memories/:id':
        case 'DELETE /api/v1/memories/:id':
          return { path: `/api/v1/memories/${await id('memory', memoryU)}`, body: rule.method === 'PATCH' ? { metadata: { x: 1 } } : undefined };
        case 'GET /api/v1/memories/:id/history':
          return { path: `/api/v1/memories/${memoryU}/history` };
        case 'GET /api/v1/agents/:id/working-memory/:user_id':
        case 'PUT /api/v1/agents/:id/working-memory/:user_id':
          return { path: `/api/v1/agents/${agentA}/working-memory/${U}`, body: rule.method === 'PUT' ? { content: 'Prefers tea.' } : undefined };
        case 'POST /api/v1/webhooks':
          return { path: rule.path, body: { url: 'http://127.0.0.1:9/x', events: ['memory.created'] } };
        case 'GET /api/v1/webhooks/:id':
        case 'PATCH /api/v1/webhooks/:id':
        case 'DELETE /api/v1/webhooks/:id':
        case 'POST /api/v1/webhooks/:id/rotate-secret':
        case 'GET /api/v1/webhooks/:id/deliveries':
          return { path: rule.path.replace(':id', await id('webhook', webhookId)), body: rule.method === 'PATCH' ? { description: 'x' } : undefined };
        case 'GET /api/v1/webhooks/:id/deliveries/:delivery_id':
        case 'POST /api/v1/webhooks/:id/deliveries/:delivery_id/redeliver':
          return { path: rule.path.replace(':id', webhookId).replace(':delivery_id', deliveryId) };
        case 'GET /v1/models/:model':
          return { path: `/v1/models/${agentA}` };
        case 'POST /v1/chat/completions':
          return { path: rule.path, body: { model: agentA, messages: [{ role: 'user', content: 'hi' }] } };
        default:
          return { path: rule.path };
      }
    }

    test('the table covers every route of the OpenAPI document', async () => {
      const doc = (await s.api('GET', '/docs/json', { key: null })).body;
      const table = new Set(roleTable().map((r) => `${r.method} ${r.path}`));
      const missing: string[] = [];
      for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
        for (const method of Object.keys(ops)) {
          const key = `${method.toUpperCase()} ${norm(path)}`;
          if (!PUBLIC.has(key) && !table.has(key)) missing.push(key);
        }
      }
      assert.deepEqual(missing, [], 'routes missing from the role table in docs/security.md');
    });

    for (const who of ['admin', 'member', 'scoped'] as const) {
      test(`every route with a${who === 'admin' ? 'n org admin' : who === 'member' ? ' member' : ' scoped'} key answers as the table says`, async () => {
        const key = who === 'admin' ? org.key : who === 'member' ? memberKey : scopedKey;
        const wrong: string[] = [];
        for (const rule of roleTable()) {
          if (rule.path.endsWith('/chat/ws')) continue; // a WebSocket: below
          const cell = rule[who];
          const req = await sample(rule);
          const res = await s.api(rule.method, req.path, { key, body: req.body });
          const what = `${rule.method} ${req.path} → ${res.status} ${JSON.stringify(res.body ?? '').slice(0, 160)}`;
          const refused = cell === '✗' || cell === 'platform admin';
          if (refused) {
            if (res.status !== 403 || res.body?.error?.code !== 'forbidden') wrong.push(`expected 403: ${what}`);
          } else if (res.status === 403 || res.status === 401 || res.status >= 500) {
            wrong.push(`expected to be allowed: ${what}`);
          }
        }
        assert.deepEqual(wrong, []);
      });
    }

    test("a refused route is 404, not 403, for an id the org does not have (missing, or another org's)", async () => {
      const wrong: string[] = [];
      for (const rule of roleTable().filter((r) => r.member === '✗' && r.path.includes(':id'))) {
        const ids = [randomUUID(), rule.path.includes('/agents/') ? otherOrg.agentId : otherOrg.id];
        for (const id of ids) {
          const path = rule.path.replace(':id', id);
          const res = await s.api(rule.method, path, { key: memberKey, body: rule.method === 'PATCH' ? { name: 'x' } : undefined });
          if (res.status !== 404) wrong.push(`${rule.method} ${path} → ${res.status}`);
        }
      }
      assert.deepEqual(wrong, []);
    });

    test('a member cannot redirect an agent: the agent stays as it was', async () => {
      const res = await s.api('PATCH', `/api/v1/agents/${agentA}`, { key: memberKey, body: { llm: { base_url: 'http://127.0.0.1:9/v1' } } });
      assert.equal(res.status, 403);
      const agent = (await s.api('GET', `/api/v1/agents/${agentA}`, { key: org.key })).body;
      assert.equal(agent.llm.base_url, undefined);
      assert.equal(agent.name, 'A');
    });

    test('a scoped key chats only with its agents and only as its user', async () => {
      const key = scopedKey;
      const own = await streamChat({ url: s.url, adminKey: key }, agentA, { message: 'hello from the browser' });
      assert.equal(own.res.status, 200);
      const session = (await s.api('GET', `/api/v1/sessions/${own.events[0].session_id}`, { key: org.key })).body;
      assert.equal(session.user_id, U, "the turn ran as the key's user");
      assert.equal((await streamChat({ url: s.url, adminKey: key }, agentA, { message: 'hi', user_id: U })).res.status, 200);
      for (const body of [
        { message: 'hi', user_id: V },
        { message: 'hi', session_id: sessionV },
      ]) {
        const res = await streamChat({ url: s.url, adminKey: key }, agentA, body);
        assert.equal(res.res.status, 403, JSON.stringify(body));
        assert.equal((await res.res.json()).error.code, 'forbidden');
      }
      assert.equal((await streamChat({ url: s.url, adminKey: key }, agentB, { message: 'hi' })).res.status, 403);
      assert.equal((await streamChat({ url: s.url, adminKey: key }, otherOrg.agentId, { message: 'hi' })).res.status, 404);
      // The same on the other surfaces.
      const api = as(key);
      assert.equal((await api('POST', `/api/v1/agents/${agentB}/chat`, { message: 'hi' })).status, 403);
      assert.equal((await api('POST', '/v1/chat/completions', { model: agentB, messages: [{ role: 'user', content: 'hi' }] })).status, 403);
      assert.equal((await api('POST', '/v1/chat/completions', { model: agentA, user: V, messages: [{ role: 'user', content: 'hi' }] })).status, 403);
      const ui = (user_id?: string) => ({ id: randomUUID(), user_id, messages: [{ id: 'm', role: 'user', parts: [{ type: 'text', text: 'hi' }] }] });
      assert.equal((await api('POST', `/api/v1/agents/${agentA}/chat/ui`, ui(V))).status, 403);
      assert.equal((await api('POST', `/api/v1/agents/${agentA}/chat/ui`, { ...ui(), session_id: sessionV })).status, 403);
      assert.equal((await api('GET', `/api/v1/agents/${agentA}/chat/stream/${messageU}`)).status, 200, "its own user's stream resumes");
    });

    test('a scoped key over a WebSocket: its agent as its user, another agent closed with 4403', async () => {
      const wsUrl = (agent: string) => `${s.url.replace('http', 'ws')}/api/v1/agents/${agent}/chat/ws`;
      const refused = await fetch(wsUrl(agentB).replace('ws', 'http'), { headers: { authorization: `Bearer ${scopedKey}` } });
      assert.equal(refused.status, 403, 'a header-authenticated upgrade to another agent is refused');
      const closed = await new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl(agentB));
        ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', api_key: scopedKey })));
        ws.on('close', (code) => resolve(code));
      });
      assert.equal(closed, 4403);
      const events = await new Promise<ChatEventLike[]>((resolve, reject) => {
        const got: ChatEventLike[] = [];
        const ws = new WebSocket(wsUrl(agentA), { headers: { authorization: `Bearer ${scopedKey}` } });
        ws.on('open', () => ws.send(JSON.stringify({ type: 'chat', message: 'hi', user_id: V })));
        ws.on('message', (d) => {
          const e = JSON.parse(d.toString()) as ChatEventLike;
          got.push(e);
          if (got.length === 1) ws.send(JSON.stringify({ type: 'chat', message: 'hi' }));
          if (e.chunk_type === 'done') {
            ws.close();
            resolve(got);
          }
        });
        ws.on('error', reject);
      });
      assert.deepEqual([events[0]!.chunk_type, events[0]!.code], ['error', 'forbidden']);
      assert.equal(events.at(-1)!.chunk_type, 'done');
    });

    test("a scoped key sees only its user's memories and sessions of its agents", async () => {
      const api = as(scopedKey);
      const list = (await api('GET', '/api/v1/memories')).body.data.map((m: MemoryRow) => m.user_id);
      assert.ok(list.length >= 1 && list.every((u: string) => u === U), `only Ada's memories: ${list}`);
      const hits = (await api('POST', '/api/v1/memories/search', { query: 'likes coffee tea' })).body.results.map((r: MemoryHit) => r.content);
      assert.ok(hits.includes('Ada likes tea') && !hits.includes('Bob likes coffee'), JSON.stringify(hits));
      assert.equal((await api('GET', `/api/v1/memories?user_id=${V}`)).status, 403);
      assert.equal((await api('GET', `/api/v1/memories?agent_id=${agentB}`)).status, 403);
      assert.equal((await api('POST', '/api/v1/memories/search', { query: 'x', user_id: V })).status, 403);
      for (const [m, path] of [
        ['GET', `/api/v1/memories/${memoryV}`],
        ['DELETE', `/api/v1/memories/${memoryV}`],
        ['GET', `/api/v1/memories/${memoryV}/history`],
        ['GET', `/api/v1/sessions/${sessionV}`],
        ['GET', `/api/v1/sessions/${sessionV}/messages`],
        ['DELETE', `/api/v1/sessions/${sessionV}`],
        ['GET', `/api/v1/agents/${agentB}/sessions`],
        ['GET', `/api/v1/agents/${agentB}`],
        ['GET', `/v1/models/${agentB}`],
      ] as const) {
        const res = await api(m, path);
        assert.equal(res.status, 403, `${m} ${path} → ${res.status}`);
      }
      assert.equal((await api('PATCH', `/api/v1/memories/${memoryV}`, { content: 'changed' })).status, 403);
      assert.equal((await s.api('GET', `/api/v1/memories/${memoryV}`, { key: org.key })).body.content, 'Bob likes coffee', "nothing of Bob's changed");
      assert.equal((await s.api('GET', `/api/v1/sessions/${sessionV}`, { key: org.key })).status, 200);
      // Writes land in its own scope.
      const added = (await api('POST', '/api/v1/memories', { content: 'Ada moved to Lisbon' })).body;
      assert.deepEqual([added.user_id, added.agent_id], [U, agentA]);
      assert.equal((await api('POST', '/api/v1/memories', { content: 'x', user_id: V })).status, 403);
      assert.equal((await api('POST', '/api/v1/memories', { content: 'x', agent_id: agentB })).status, 403);
      const sessions = (await api('GET', `/api/v1/agents/${agentA}/sessions`)).body.data;
      assert.ok(sessions.length >= 1 && sessions.every((x: { user_id: string | null }) => x.user_id === U));
      assert.equal((await api('POST', `/api/v1/agents/${agentA}/sessions`, {})).body.user_id, U);
    });

    test('a scoped key sees its agents in their public view, and its own scope at /me', async () => {
      const api = as(scopedKey);
      const agents = (await api('GET', '/api/v1/agents')).body.data;
      assert.deepEqual(
        agents.map((a: { id: string }) => a.id),
        [agentA],
      );
      assert.equal(agents[0].system_prompt, undefined, 'no prompt');
      assert.equal(agents[0].tools, undefined, 'no tools');
      assert.equal(agents[0].llm.base_url, undefined);
      assert.equal(agents[0].llm.provider, 'simulated');
      assert.equal(JSON.stringify(agents).includes('secret prompt'), false);
      assert.deepEqual(
        (await api('GET', '/v1/models')).body.data.map((m: { id: string }) => m.id),
        [agentA],
      );
      const me = (await api('GET', '/api/v1/me')).body;
      assert.deepEqual([me.role, me.user_id, me.agent_ids, me.org_id], ['member', U, [agentA], org.id]);
      assert.equal(JSON.stringify(me).includes(scopedKey), false, 'the key itself is never echoed');
    });

    test('minting: scoped keys are members, name agents of the org, expire in the future; an expired key is 401', async () => {
      const admin = as(org.key);
      assert.equal((await admin('POST', '/api/v1/api-keys', { name: 'x', role: 'admin', user_id: U })).status, 400);
      assert.equal((await admin('POST', '/api/v1/api-keys', { name: 'x', agent_ids: [otherOrg.agentId] })).status, 400);
      assert.equal((await admin('POST', '/api/v1/api-keys', { name: 'x', user_id: U, expires_at: '2020-01-01T00:00:00Z' })).status, 400);
      assert.equal((await s.api('POST', '/api/v1/api-keys', { key: scopedKey, body: { name: 'x' } })).status, 403, 'a scoped key mints nothing');
      const short = (await admin('POST', '/api/v1/api-keys', { name: 'short', user_id: U, expires_at: new Date(Date.now() + 1_500).toISOString() })).body.key;
      assert.equal((await s.api('GET', '/api/v1/me', { key: short })).status, 200);
      await new Promise((r) => setTimeout(r, 1_700));
      const res = await s.api('GET', '/api/v1/me', { key: short });
      assert.equal(res.status, 401);
      assert.match(res.body.error.message, /expired/);
      // A key scoped to the user only: every agent, as that user.
      const userOnly = (await admin('POST', '/api/v1/api-keys', { name: 'u', user_id: U })).body.key;
      assert.equal((await streamChat({ url: s.url, adminKey: userOnly }, agentB, { message: 'hi' })).res.status, 200);
      assert.equal((await s.api('GET', '/api/v1/users', { key: userOnly })).status, 403);
    });

    test('revoking a scoped key stops it at once', async () => {
      const admin = as(org.key);
      const k = (await admin('POST', '/api/v1/api-keys', { name: 'r', user_id: U, agent_ids: [agentA] })).body;
      assert.equal((await s.api('GET', '/api/v1/me', { key: k.key })).status, 200);
      assert.equal((await admin('DELETE', `/api/v1/api-keys/${k.id}`)).status, 204);
      assert.equal((await s.api('GET', '/api/v1/me', { key: k.key })).status, 401);
    });
  });
}
