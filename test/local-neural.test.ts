// The local neural embedder (USE-lite in a worker thread) as a new agent's default, end to end:
// a fact told in one session is recalled by a question that shares no word with it, the model
// runs off the main thread, and a late query embedding leaves recall to the text side within
// the budget. One model load per server (the embedder is shared by every agent using it).
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';
import { engines, startServer, streamChat, type TestServer } from './harness.ts';
import { createMemorySearch, createRecall } from '../src/memory/recall.ts';
import { createLocalNeuralEmbedder, localNeuralInstalled, LOCAL_NEURAL_ID, type LocalNeuralEmbedder } from '../src/memory/embedders/local-neural.ts';
import { createTimings } from '../src/trace/timings.ts';

// the product's default: what a fresh install gives (the harness picks `local` for other tests)
delete process.env.AGENTMEM_DEFAULT_EMBEDDER;

for (const engine of engines) {
  describe(`local neural embedder on ${engine}`, { skip: !localNeuralInstalled() && 'its package is not installed' }, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(engine);
    });
    after(async () => {
      await s?.close();
    });

    test('a fresh agent recalls "I love sushi" for "What food do I like?" in another session, the model off the main thread', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'fresh', streaming: { emit_metadata: true, emit_memory_updates: true } } })).body;
      assert.equal(agent.memory.embedder.provider, 'local-neural', 'the default when the package is installed');
      assert.equal(agent.memory.embedder.dimensions, 512);

      const told = await streamChat(s, agent.id, { message: 'I love sushi.', user_id: 'ann' });
      assert.equal(told.events.at(-1).chunk_type, 'done');
      // extraction writes the fact once its embedding is back (the first one loads the model)
      const listed = async () => (await s.api('GET', `/api/v1/memories?agent_id=${agent.id}&user_id=ann`)).body.data;
      const end = Date.now() + 120_000;
      let stored = await listed();
      while (!stored.length && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200));
        stored = await listed();
      }
      assert.ok(stored.length >= 1, 'extraction stored the fact');
      assert.ok(
        stored.every((m: any) => m.embedder === LOCAL_NEURAL_ID),
        JSON.stringify(stored),
      );

      // an unrelated fact beside it, so the answer is a choice
      await s.api('POST', '/api/v1/memories', { body: { agent_id: agent.id, user_id: 'ann', content: 'My sister is a nurse in Leeds' } });
      // generous budget: this test is about finding the fact, the next one about the deadline
      await s.api('PATCH', `/api/v1/agents/${agent.id}`, { body: { memory: { recall_budget_ms: 30_000 } } });

      const asked = await streamChat(s, agent.id, { message: 'What food do I like?', user_id: 'ann' });
      assert.notEqual(asked.events[0].session_id, told.events[0].session_id, 'a new session');
      const meta = asked.events.find((e) => e.chunk_type === 'metadata');
      assert.match(meta.recalled[0]?.content ?? '', /sushi/i, JSON.stringify(meta.recalled));
      assert.ok(meta.timings.recall_embed !== undefined, `the trace shows the query embedding: ${JSON.stringify(meta.timings)}`);

      const stats = (s.app.embedderFor(agent.memory.embedder) as LocalNeuralEmbedder).stats();
      assert.ok(stats.embedded >= 2, `the worker embedded the memory and the question: ${JSON.stringify(stats)}`);
      assert.ok(stats.threadId !== undefined && stats.threadId !== threadId, `embedded on thread ${stats.threadId}, not the main thread ${threadId}`);
    });

    test('a query embedding that is late is not waited for: the text side answers within the budget', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'late', memory: { recall_budget_ms: 300 } } })).body;
      assert.equal(
        (await s.api('POST', '/api/v1/memories', { body: { agent_id: agent.id, user_id: 'bo', content: 'My favourite food is ramen' } })).status,
        201,
      );
      const { org_id } = (await s.app.db.query<{ org_id: string }>('select org_id from agents where id = $1', [agent.id]))[0]!;
      const search = createMemorySearch(s.app.db);
      // warm the scope's text index, so the text side's share of the budget is its own
      await search(s.app.embedderFor({ provider: 'local', dimensions: 256 }), { orgId: org_id, agentId: agent.id, userId: 'bo' }, 'food', {
        topK: 5,
        minScore: 0,
        vectorWeight: 0,
      });
      // a cold embedder: its worker loads the model (~1 s) long after the 225 ms the embedding may take
      const cold = createLocalNeuralEmbedder();
      try {
        const recall = createRecall(search, () => cold);
        const timings = createTimings();
        const out = await recall({ id: agent.id, org_id, config: { memory: agent.memory } }, 'bo', 'what food do I like', timings);
        assert.equal(cold.stats().embedded, 0, 'recall answered before the embedding came back');
        assert.deepEqual(
          out.map((m) => m.content),
          ['My favourite food is ramen'],
        );
        const json = timings.toJSON();
        assert.equal(json.skipped?.recall_embed, 'budget');
        assert.equal(json.skipped?.recall, undefined, 'recall itself was in time');
      } finally {
        await cold.close();
      }
    });
  });
}
