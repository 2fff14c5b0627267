// agentmem's memory as an MCP server at /mcp, driven by the official SDK's own client over
// Streamable HTTP: search, add, update, history and delete as an org admin; another
// org's key sees nothing and changes nothing; a scoped key reaches only its user's
// memories of its agents; no key is refused before any MCP exchange.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createOrg, engines, startServer, type HistoryEvent, type MemoryHit, type MemoryRow, type TestServer } from './harness.ts';

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };

for (const engine of engines) {
  describe(`/mcp memory server on ${engine}`, () => {
    let s: TestServer;
    let org: { id: string; key: string };
    let other: { id: string; key: string };
    let agentA: string;
    let agentB: string;
    const clients: Client[] = [];

    async function connect(key: string | undefined): Promise<Client> {
      const client = new Client({ name: 'agentmem-test', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} } });
      await client.connect(transport);
      clients.push(client);
      return client;
    }
    /** Calls a tool; the parsed JSON of its text (as loose as JSON.parse's), or the error text. */
    async function call(client: Client, name: string, args: Record<string, unknown>) {
      const r = (await client.callTool({ name, arguments: args })) as { content: Array<{ type: string; text: string }>; isError?: boolean };
      const text = r.content.map((c) => c.text).join('');
      return r.isError ? { ok: false as const, error: text } : { ok: true as const, value: JSON.parse(text) };
    }
    const value = (r: Awaited<ReturnType<typeof call>>) => {
      assert.ok(r.ok, JSON.stringify(r));
      return r.value;
    };

    before(async () => {
      s = await startServer(engine);
      org = await createOrg(s.api, 'mcp-owner');
      other = await createOrg(s.api, 'mcp-other');
      const as = (body: unknown) => s.api('POST', '/api/v1/agents', { key: org.key, body });
      agentA = (await as({ name: 'A', llm: fast })).body.id;
      agentB = (await as({ name: 'B', llm: fast })).body.id;
    });
    after(async () => {
      await Promise.allSettled(clients.map((c) => c.close()));
      await s?.close();
    });

    test('the SDK client lists the memory tools and adds, searches, updates, reads history and deletes', async () => {
      const client = await connect(org.key);
      const tools = (await client.listTools()).tools;
      assert.deepEqual(tools.map((t) => t.name).sort(), ['memory_add', 'memory_delete', 'memory_history', 'memory_search', 'memory_update']);
      const search = tools.find((t) => t.name === 'memory_search')!;
      assert.deepEqual(search.inputSchema.required, ['query']);

      const added = value(
        await call(client, 'memory_add', { content: 'Ada drinks oolong tea every morning', agent_id: agentA, user_id: 'ada', metadata: { topic: 'food' } }),
      );
      assert.deepEqual([added.agent_id, added.user_id, added.metadata], [agentA, 'ada', { topic: 'food' }]);
      value(await call(client, 'memory_add', { content: 'Ada plays the cello', agent_id: agentA, user_id: 'ada', metadata: { topic: 'music' } }));
      const rest = (await s.api('GET', `/api/v1/memories/${added.id}`, { key: org.key })).body;
      assert.equal(rest.content, 'Ada drinks oolong tea every morning', 'the same memory through REST');

      const found = value(await call(client, 'memory_search', { query: 'what tea does Ada drink', agent_id: agentA, user_id: 'ada', top_k: 5 }));
      assert.equal(found.results[0].id, added.id);
      const filtered = value(await call(client, 'memory_search', { query: 'Ada', agent_id: agentA, user_id: 'ada', filters: { topic: 'music' } }));
      assert.deepEqual(
        filtered.results.map((r: MemoryHit) => r.content),
        ['Ada plays the cello'],
      );

      const updated = value(await call(client, 'memory_update', { memory_id: added.id, content: 'Ada drinks green tea now' }));
      assert.equal(updated.content, 'Ada drinks green tea now');
      const history = value(await call(client, 'memory_history', { memory_id: added.id }));
      assert.deepEqual(
        history.events.map((e: HistoryEvent) => e.event),
        ['ADD', 'UPDATE'],
      );
      assert.deepEqual(value(await call(client, 'memory_delete', { memory_id: added.id })), { deleted: true });
      assert.equal((await s.api('GET', `/api/v1/memories/${added.id}`, { key: org.key })).status, 404);
      const bad = await call(client, 'memory_search', { query: '' });
      assert.equal(bad.ok, false, 'invalid arguments are an error result');
    });

    test("another org's key sees nothing and changes nothing", async () => {
      const owner = await connect(org.key);
      const mine = value(await call(owner, 'memory_add', { content: 'zqx secret of the owner', agent_id: agentA, user_id: 'ada' }));
      const thief = await connect(other.key);
      const searched = value(await call(thief, 'memory_search', { query: 'zqx secret of the owner' }));
      assert.deepEqual(searched.results, []);
      const asUser = value(await call(thief, 'memory_search', { query: 'zqx secret', user_id: 'ada' }));
      assert.deepEqual(asUser.results, []);
      for (const [name, args] of [
        ['memory_search', { query: 'zqx', agent_id: agentA }],
        ['memory_history', { memory_id: mine.id }],
        ['memory_update', { memory_id: mine.id, content: 'stolen' }],
        ['memory_delete', { memory_id: mine.id }],
        ['memory_add', { content: 'planted', agent_id: agentA }],
      ] as const) {
        const r = await call(thief, name, args);
        assert.equal(r.ok, false, `${name} → ${JSON.stringify(r)}`);
        assert.match((r as { error: string }).error, /not found/i, name);
        assert.ok(!(r as { error: string }).error.includes('zqx'));
      }
      const still = (await s.api('GET', `/api/v1/memories/${mine.id}`, { key: org.key })).body;
      assert.equal(still.content, 'zqx secret of the owner');
      assert.equal(
        (await s.api('GET', `/api/v1/memories?agent_id=${agentA}`, { key: org.key })).body.data.some((m: MemoryRow) => m.content === 'planted'),
        false,
      );
    });

    test('a scoped key: only its user, only its agents', async () => {
      const admin = await connect(org.key);
      const bobs = value(await call(admin, 'memory_add', { content: 'Bob likes espresso', agent_id: agentA, user_id: 'bob' }));
      value(await call(admin, 'memory_add', { content: 'Ada likes espresso too', agent_id: agentA, user_id: 'ada' }));
      await s.api('POST', '/api/v1/users', { key: org.key, body: { id: 'ada' } });
      const minted = await s.api('POST', '/api/v1/api-keys', { key: org.key, body: { name: 'web:ada', user_id: 'ada', agent_ids: [agentA] } });
      assert.equal(minted.status, 201, JSON.stringify(minted.body));
      const ada = await connect(minted.body.key);
      const hits = value(await call(ada, 'memory_search', { query: 'likes espresso' })).results.map((r: MemoryHit) => r.content);
      assert.ok(hits.includes('Ada likes espresso too') && !hits.includes('Bob likes espresso'), JSON.stringify(hits));
      for (const [name, args] of [
        ['memory_search', { query: 'espresso', user_id: 'bob' }],
        ['memory_search', { query: 'espresso', agent_id: agentB }],
        ['memory_history', { memory_id: bobs.id }],
        ['memory_delete', { memory_id: bobs.id }],
        ['memory_add', { content: 'x', user_id: 'bob' }],
      ] as const) {
        const r = await call(ada, name, args);
        assert.equal(r.ok, false, `${name} → ${JSON.stringify(r)}`);
      }
      const own = value(await call(ada, 'memory_add', { content: 'Ada moved to Porto' }));
      assert.deepEqual([own.user_id, own.agent_id], ['ada', agentA], 'a write lands in its own scope');
      assert.equal((await s.api('GET', `/api/v1/memories/${bobs.id}`, { key: org.key })).status, 200, 'Bob’s memory is untouched');
    });

    test('no key, or a bad one: 401 before any MCP exchange', async () => {
      await assert.rejects(connect(undefined), /401|nauthorized/);
      const res = await fetch(`${s.url}/mcp`, {
        method: 'POST',
        headers: { authorization: 'Bearer am_not_a_key', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, 'unauthorized');
      // Stateless: no server-initiated stream to open.
      const get = await fetch(`${s.url}/mcp`, { headers: { authorization: `Bearer ${org.key}`, accept: 'text/event-stream' } });
      assert.equal(get.status, 405);
    });
  });
}
