// A scope is read from the store once, however many searches arrive while it loads, and this
// instance's own writes never make it read again (PostgreSQL, where every search checks its
// scope's version: AGENTMEM_SCOPE_CHECK=always). Two ways it used to happen under many
// streams: a search that arrived while the scope's version was being read found no version
// yet and threw the load away (the next search then did the same), and a search whose version
// read saw a write's commit before that write had reached the index took it for another
// instance's. Each reload reads the whole scope again: 10,000 memories, 0.3–0.6 s under load.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, engines, letterWord as word, startServer, type TestServer } from './harness.ts';

const reloads = async (s: TestServer) => {
  const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
  return Number(/^agentmem_memory_scope_sync_total\{what="reloads"\} (\d+)/m.exec(text)?.[1] ?? 0);
};

describe('scope reloads on PostgreSQL', { skip: !engines.includes('postgres') && 'needs PostgreSQL' }, () => {
  let s: TestServer;
  let drop = async () => {};
  let agentId: string;
  before(async () => {
    const database = await createTestDatabase('postgres');
    drop = database.drop;
    s = await startServer('postgres', { databaseUrl: database.url });
    agentId = (await s.api('POST', '/api/v1/agents', { body: { name: 'reloads' } })).body.id;
  });
  after(async () => {
    await s?.close();
    await drop();
  });

  const search = async (user: string, query: string) => {
    const res = await s.api('POST', '/api/v1/memories/search', { body: { query, agent_id: agentId, user_id: user, top_k: 50, min_score: 0 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return (res.body.results as Array<{ content: string }>).map((r) => r.content);
  };

  test('24 searches of a cold scope at once, then 40 writes beside 40 searches: no reload, every write found', async () => {
    const memories = Array.from({ length: 300 }, (_, i) => ({ content: `reload fact ${word('r', i)}`, agent_id: agentId, user_id: 'u1' }));
    assert.equal((await s.api('POST', '/api/v1/memories/batch', { body: { memories } })).status, 201);
    const before = await reloads(s);
    const first = await Promise.all(Array.from({ length: 24 }, () => search('u1', 'reload fact')));
    for (const hits of first) assert.equal(hits.length, 50);
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const [added] = await Promise.all([
          s.api('POST', '/api/v1/memories', { body: { content: `written ${word('w', i)} later`, agent_id: agentId, user_id: 'u1' } }),
          search('u1', `written ${word('w', (i + 39) % 40)}`),
        ]);
        assert.equal(added.status, 201, JSON.stringify(added.body));
      }),
    );
    for (let i = 0; i < 40; i++) assert.ok((await search('u1', `written ${word('w', i)} later`)).includes(`written ${word('w', i)} later`), `write ${i}`);
    assert.equal((await reloads(s)) - before, 0, 'scopes read again');
  });
});
