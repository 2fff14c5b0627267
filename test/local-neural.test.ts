// The local neural embedder (USE-lite in a worker thread) as a new agent's default, end to end:
// a fact told in one session is recalled by a question that shares no word with it, the model
// runs off the main thread, and a late query embedding leaves recall to the text side within
// the budget. One model load per server (the embedder is shared by every agent using it).
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';
import { apiClient, engines, letterWord, restartableServer, startServer, streamChat, type MemoryHit, type MemoryRow, type TestServer } from './harness.ts';
import type { Db } from '../src/store/db.ts';
import { createMemorySearch, createRecall } from '../src/memory/recall.ts';
import { createLocalNeuralEmbedder, localNeuralInstalled, LOCAL_NEURAL_ID, type LocalNeuralEmbedder } from '../src/memory/embedders/local-neural.ts';
import { createTimings } from '../src/trace/timings.ts';

// the product's default: what a fresh install gives (the harness picks `local` for other tests)
delete process.env.AGENTMEM_DEFAULT_EMBEDDER;

// A batch for one user: 'I love sushi' among facts that share no word with "What food do I like?",
// each naming a word of its own (ending in k: no plural for the stemmer to take off).
const wordOf = (tag: string, i: number) => `${letterWord(tag, i)}k`;
const batchOf = (n: number, tag: string) => [
  { content: 'I love sushi' },
  ...Array.from({ length: n - 1 }, (_, i) => ({ content: `The ${wordOf(tag, i)} crate sits on shelf ${wordOf('s', i)}` })),
];
const vectorStates = async (db: Db, agentId: string) =>
  (
    await db.query<{ pending: number; vectors: number; embedders: string[] }>(
      `select count(*) filter (where vector_pending)::int as pending, count(embedding)::int as vectors,
              coalesce(array_agg(distinct embedder) filter (where embedder is not null), '{}') as embedders
       from memories where agent_id = $1`,
      [agentId],
    )
  )[0]!;
/** Polls until no vector of the agent is pending (the model's first load included). */
async function vectorsIn(db: Db, agentId: string, timeoutMs = 180_000) {
  const end = Date.now() + timeoutMs;
  let state = await vectorStates(db, agentId);
  while (state.pending > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250));
    state = await vectorStates(db, agentId);
  }
  return state;
}

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
        stored.every((m: MemoryRow) => m.embedder === LOCAL_NEURAL_ID),
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

    test('a batch answers before its vectors exist: the text side finds it at once, the vectors follow in the background', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'bulk' } })).body;
      assert.equal(agent.memory.embedder.provider, 'local-neural');
      const n = 150;
      const res = await s.api('POST', '/api/v1/memories/batch', { body: { agent_id: agent.id, user_id: 'cy', memories: batchOf(n, 'b') } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.count, n);
      // answered with vectors still to come (the job embeds 32 at a time, ~10 ms each at best)
      const early = await vectorStates(s.app.db, agent.id);
      assert.ok(early.pending > 0, `vectors pending when the write answered: ${JSON.stringify(early)}`);
      const found = await s.api('POST', '/api/v1/memories/search', {
        // only the word this memory alone holds: the other crates' vectors, however many the job
        // has embedded by now, cannot outrank a memory that is first by text (fusion weight 0.25)
        body: { agent_id: agent.id, user_id: 'cy', query: `where is ${wordOf('b', n - 2)}?`, top_k: 3 },
      });
      assert.equal(found.status, 200);
      assert.equal(found.body.results[0]?.content, `The ${wordOf('b', n - 2)} crate sits on shelf ${wordOf('s', n - 2)}`, JSON.stringify(found.body));

      const late = await vectorsIn(s.app.db, agent.id);
      assert.deepEqual(late, { pending: 0, vectors: n, embedders: [LOCAL_NEURAL_ID] });
      // now the vector side finds what no word of the question names
      const meant = await s.api('POST', '/api/v1/memories/search', { body: { agent_id: agent.id, user_id: 'cy', query: 'What food do I like?', top_k: 3 } });
      const hits = meant.body.results;
      assert.ok(
        hits.some((m: MemoryHit) => m.content === 'I love sushi'),
        JSON.stringify(hits),
      );
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

for (const engine of engines) {
  test(
    `pending vectors survive a restart on ${engine}: the next start embeds what the last one left`,
    { skip: !localNeuralInstalled() && 'its package is not installed' },
    async () => {
      const store = await restartableServer(engine);
      try {
        let app = await store.start();
        let api = apiClient(app.url, store.adminKey);
        const agent = (await api('POST', '/api/v1/agents', { body: { name: 'restarted' } })).body;
        const n = 200; // more than one run of the job (128): a stop waits for at most one run
        assert.equal((await api('POST', '/api/v1/memories/batch', { body: { agent_id: agent.id, user_id: 'di', memories: batchOf(n, 'r') } })).status, 201);
        await app.close();

        app = await store.start();
        try {
          api = apiClient(app.url, store.adminKey);
          const left = await vectorStates(app.db, agent.id);
          assert.ok(left.pending > 0, `the first instance left vectors pending: ${JSON.stringify(left)}`);
          assert.equal(left.vectors + left.pending, n);
          assert.deepEqual(await vectorsIn(app.db, agent.id), { pending: 0, vectors: n, embedders: [LOCAL_NEURAL_ID] });
        } finally {
          await app.close();
        }
      } finally {
        await store.drop();
      }
    },
  );
}
