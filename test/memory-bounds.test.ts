// Every in-process structure kept per scope stays within its budget (docs/reliability.md
// "Memory bounds"): the memories' and the messages' lexical indexes and the predicted pools
// are driven past small budgets; the metrics count what left, and what left is read again
// (results stay right after an eviction). A search of user ids that have nothing keeps nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEmbedders } from '../src/memory/embedders/index.ts';
import { createPredictions, type PoolAgent } from '../src/memory/predictive.ts';
import { createMemorySearch } from '../src/memory/recall.ts';
import { getAgent } from '../src/store/repos/agents.ts';
import { engines, startServer, type TestServer } from './harness.ts';

const M = '/api/v1/memories';
const USERS = 24;
// a few users' indexes (each ~1 KB of index + ~0.5 KB a memory), far from all of them
const INDEX_BYTES = 12_000;
const colour = (i: number) => `colour${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`;

async function metric(s: TestServer, name: string, structure: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
  const m = new RegExp(`^${name}\\{structure="${structure}"\\} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name}{structure="${structure}"} in /metrics`);
  return Number(m[1]);
}

for (const engine of engines) {
  describe(`memory bounds on ${engine}`, () => {
    let s: TestServer;
    let agent: { id: string };
    before(async () => {
      s = await startServer(engine, { memoryIndexBytes: INDEX_BYTES, messageIndexBytes: INDEX_BYTES });
      agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'bounded', memory: { semantic_recall: { vector_weight: 1 } } } })).body;
      const memories = [];
      for (let i = 0; i < USERS; i++) {
        memories.push({ content: `My favourite colour is ${colour(i)}`, agent_id: agent.id, user_id: `u${i}` });
        for (let j = 0; j < 3; j++) memories.push({ content: `Note ${j} about the weather and the garden, day ${j}`, agent_id: agent.id, user_id: `u${i}` });
      }
      const res = await s.api('POST', `${M}/batch`, { body: { memories } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    });
    after(() => s?.close());

    const search = async (body: object) => {
      const res = await s.api('POST', `${M}/search`, { body: { min_score: 0, ...body } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.results as Array<{ id: string; content: string; user_id: string }>;
    };

    test('the memory index keeps the most recent scopes within its bytes; evicted scopes answer the same when read again', async () => {
      const first = new Map<number, string>();
      for (let i = 0; i < USERS; i++) {
        const [top] = await search({ query: `favourite ${colour(i)}`, user_id: `u${i}`, agent_id: agent.id });
        assert.equal(top?.content, `My favourite colour is ${colour(i)}`, `u${i}`);
        first.set(i, top!.id);
      }
      const bytes = await metric(s, 'agentmem_memory_bound_bytes', 'memory_index');
      const entries = await metric(s, 'agentmem_memory_bound_entries', 'memory_index');
      const evicted = await metric(s, 'agentmem_memory_bound_evictions_total', 'memory_index');
      assert.ok(bytes > 0 && bytes <= INDEX_BYTES, `bytes ${bytes} within ${INDEX_BYTES}`);
      assert.ok(entries > 0 && entries < USERS, `${entries} scopes kept of ${USERS}`);
      assert.ok(evicted >= USERS - entries, `evictions counted: ${evicted}`);
      // the first users' scopes left; searching them reads them again, with the same answers
      for (let i = 0; i < 3; i++) {
        const [top] = await search({ query: `favourite ${colour(i)}`, user_id: `u${i}`, agent_id: agent.id });
        assert.equal(top?.id, first.get(i));
      }
      assert.ok((await metric(s, 'agentmem_memory_bound_evictions_total', 'memory_index')) > evicted, 'reading them again evicted others');
      // a write to an evicted scope is there when it is read again; a delete is gone
      const added = (await s.api('POST', M, { body: { content: `I also like ${colour(USERS + 1)}`, agent_id: agent.id, user_id: 'u5' } })).body;
      assert.equal((await search({ query: colour(USERS + 1), user_id: 'u5', agent_id: agent.id }))[0]?.id, added.id);
      assert.equal((await s.api('DELETE', `${M}/${first.get(6)}`)).status, 204);
      assert.deepEqual(
        (await search({ query: `favourite ${colour(6)}`, user_id: 'u6', agent_id: agent.id })).filter((h) => h.id === first.get(6)),
        [],
      );
    });

    test('a user-only search reads that user (not the organization) and stays within the budget', async () => {
      const [top] = await search({ query: `favourite ${colour(7)}`, user_id: 'u7' });
      assert.equal(top?.content, `My favourite colour is ${colour(7)}`);
      assert.ok(top && top.user_id === 'u7');
      assert.ok((await metric(s, 'agentmem_memory_bound_bytes', 'memory_index')) <= INDEX_BYTES);
    });

    test('searching user ids that have nothing keeps nothing', async () => {
      const entries = await metric(s, 'agentmem_memory_bound_entries', 'memory_index');
      const bytes = await metric(s, 'agentmem_memory_bound_bytes', 'memory_index');
      const evicted = await metric(s, 'agentmem_memory_bound_evictions_total', 'memory_index');
      for (let i = 0; i < 50; i++) {
        assert.deepEqual(await search({ query: 'colour', user_id: `nobody-${i}`, agent_id: agent.id }), []);
        assert.deepEqual(await search({ query: 'colour', user_id: `nobody-else-${i}` }), []);
      }
      assert.equal(await metric(s, 'agentmem_memory_bound_entries', 'memory_index'), entries);
      assert.equal(await metric(s, 'agentmem_memory_bound_bytes', 'memory_index'), bytes);
      assert.equal(await metric(s, 'agentmem_memory_bound_evictions_total', 'memory_index'), evicted, 'nothing was pushed out either');
    });

    test('the message index keeps the most recent scopes within its bytes; neighbours come back after a reload', async () => {
      for (let i = 0; i < 12; i++) {
        const messages = [
          { role: 'user', content: `I keep a pet called ${colour(i)}`, created_at: '2024-03-01T10:00:00Z' },
          { role: 'assistant', content: `What a lovely name for a pet number ${i}!`, created_at: '2024-03-01T10:01:00Z' },
          ...Array.from({ length: 6 }, (_, j) => ({ role: 'user', content: `Filler line ${j} about nothing much at all`, created_at: '2024-03-01T11:00:00Z' })),
        ];
        const res = await s.api('POST', '/api/v1/sessions/import', { body: { agent_id: agent.id, user_id: `m${i}`, messages } });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
      const ask = (i: number) =>
        search({ query: `pet called ${colour(i)}`, user_id: `m${i}`, agent_id: agent.id, scope: 'messages', message_range: { before: 1, after: 1 } });
      for (let i = 0; i < 12; i++) assert.match((await ask(i))[0]?.content ?? '', new RegExp(`called ${colour(i)}\\nassistant .*pet number ${i}!`));
      const bytes = await metric(s, 'agentmem_memory_bound_bytes', 'message_index');
      assert.ok(bytes > 0 && bytes <= INDEX_BYTES, `bytes ${bytes}`);
      assert.ok((await metric(s, 'agentmem_memory_bound_evictions_total', 'message_index')) > 0);
      assert.ok((await metric(s, 'agentmem_memory_bound_entries', 'message_index')) < 12);
      // the first scope was evicted: read again, with its neighbours
      assert.match((await ask(0))[0]?.content ?? '', new RegExp(`called ${colour(0)}\\nassistant .*pet number 0!`));
    });

    test('predicted pools stay within their bytes; forgetting a user drops only theirs', async () => {
      const orgId = (await s.app.db.query<{ org_id: string }>('select org_id from agents where id = $1', [agent.id]))[0]!.org_id;
      const pooled = (await getAgent(s.app.db, orgId, agent.id)) as unknown as PoolAgent;
      const embedderFor = createEmbedders();
      const maxBytes = 8_000; // a pool of four memories with 256-dimension vectors: ~1.5 KB
      const predictions = createPredictions({ db: s.app.db, search: createMemorySearch(s.app.db), embedderFor, maxBytes });
      const vectorOf = async (text: string) => (await embedderFor(pooled.config.memory.embedder).embed([text]))[0]!;
      for (let i = 8; i < USERS; i++) await predictions.prepare(pooled, `u${i}`, `favourite ${colour(i)}`);
      const stats = predictions.stats();
      assert.ok(stats.bytes > 0 && stats.bytes <= maxBytes, `bytes ${stats.bytes}`);
      assert.ok(stats.entries < USERS - 8 && stats.evictions > 0, JSON.stringify(stats));
      const embedder = embedderFor(pooled.config.memory.embedder).id;
      const last = USERS - 1;
      const rank = async (i: number) => predictions.rank(pooled, `u${i}`, embedder, await vectorOf(`My favourite colour is ${colour(i)}`));
      assert.equal((await rank(last))?.[0]?.content, `My favourite colour is ${colour(last)}`, 'the latest pool answers');
      assert.equal(await rank(8), undefined, 'the oldest pool was evicted (recall searches as usual)');
      predictions.invalidate(orgId, '*', `u${last}`);
      assert.equal(await rank(last), undefined);
      assert.equal(predictions.stats().entries, stats.entries - 1, 'only that user’s pool left');
    });
  });
}
