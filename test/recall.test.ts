// Recall that finds the right memory, over HTTP on both engines: BM25 ordering and its
// statistics as memories change, CJK and dates, metadata filters, conversation import and
// episodic recall (search and chat), and the retrieval benchmark on the synthetic sets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { runRecallBench } from '../src/bench/recall/run.ts';
import { engines, startServer, streamChat, type MemoryHit, type MemoryRow, type StoredMessage, type TestServer } from './harness.ts';

const M = '/api/v1/memories';
const adminPg = process.env.AGENTMEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

for (const engine of engines) {
  describe(`recall on ${engine}`, () => {
    let s: TestServer;
    let agent: { id: string };
    before(async () => {
      s = await startServer(engine);
      agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'recaller' } })).body;
    });
    after(async () => {
      await s?.close();
    });

    const batch = async (user: string, memories: Array<{ content: string; metadata?: object }>) => {
      const res = await s.api('POST', `${M}/batch`, { body: { agent_id: agent.id, user_id: user, memories } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.ids as string[];
    };
    const search = async (body: object) => {
      const res = await s.api('POST', `${M}/search`, { body: { agent_id: agent.id, ...body } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.results as MemoryHit[];
    };

    test('BM25: the rare word beats the common one; statistics follow deletes and updates at once', async () => {
      const common = await batch(
        'bm25',
        Array.from({ length: 30 }, (_, i) => ({ content: `I drank coffee with friend number ${i}` })),
      );
      const [rare] = await batch('bm25', [{ content: 'I ate a croissant' }]);
      const [heavy] = await batch('bm25', [{ content: 'coffee, coffee and more coffee' }]);
      assert.equal((await search({ user_id: 'bm25', query: 'coffee croissant' }))[0]!.id, rare);
      // the search answered before and after writes, without any re-index: first the index is read...
      const patched = await s.api('PATCH', `${M}/${rare}`, { body: { content: 'I ate a bagel' } });
      assert.equal(patched.status, 200);
      assert.deepEqual(
        (await search({ user_id: 'bm25', query: 'croissant' })).map((r) => r.id),
        [],
      );
      assert.equal((await search({ user_id: 'bm25', query: 'bagel' }))[0]!.id, rare);
      // ...then deletes change what is common: with every other coffee memory gone, the heavy one leads
      for (const id of common) assert.equal((await s.api('DELETE', `${M}/${id}`)).status, 204);
      const left = await search({ user_id: 'bm25', query: 'coffee', top_k: 50 });
      assert.deepEqual(
        left.map((r) => r.id),
        [heavy],
      );
      assert.equal(left[0]!.score, 1);
    });

    test('Chinese and Japanese match on characters; dates match whatever way they were written', async () => {
      const [duck, tea, kyoto] = await batch('cjk', [
        { content: '我最喜欢吃北京烤鸭' },
        { content: '我每天早上喝绿茶' },
        { content: '来月、京都へ旅行します' },
      ]);
      assert.equal((await search({ user_id: 'cjk', query: '烤鸭好吃吗？' }))[0]!.id, duck);
      assert.equal((await search({ user_id: 'cjk', query: '我喝什么茶' }))[0]!.id, tea);
      assert.equal((await search({ user_id: 'cjk', query: '京都旅行' }))[0]!.id, kyoto);

      const [may, june, zhMay] = await batch('dates', [
        { content: 'On 2023-05-07 I went to the climbing gym' },
        { content: 'On June 3rd, 2023 I visited my aunt' },
        { content: '2023年5月20日我去了杭州' },
      ]);
      const inMay = (await search({ user_id: 'dates', query: 'What did I do in May 2023?' })).map((r) => r.id);
      assert.deepEqual(inMay.slice(0, 2).sort(), [may, zhMay].sort(), 'both May memories first');
      assert.ok(!inMay.slice(0, 2).includes(june!));
      assert.equal((await search({ user_id: 'dates', query: 'what happened on 7 May 2023' }))[0]!.id, may);
      assert.equal((await search({ user_id: 'dates', query: '2023年6月3日' }))[0]!.id, june);
    });

    test('filters: metadata operators, and/or/not, created_after/before; a bad filter is a 400', async () => {
      const ids = await batch('filters', [
        { content: 'Pasta recipe from grandma', metadata: { category: 'food', rating: 5, tags: ['family', 'italian'], place: { city: 'Rome' } } },
        { content: 'Pasta place near work', metadata: { category: 'food', rating: 3, tags: ['work'], place: { city: 'Milan' } } },
        { content: 'Pasta maker broke', metadata: { category: 'home', rating: 1, note: 'bought at the pasta fair' } },
        { content: 'Pasta is my favourite', metadata: {} },
      ]);
      const [grandma, near, maker, plain] = ids as [string, string, string, string];
      const hits = async (filters: object, extra: object = {}) =>
        (await search({ user_id: 'filters', query: 'pasta', top_k: 20, filters, ...extra })).map((r) => r.id).sort();
      const sorted = (...x: string[]) => x.sort();
      assert.deepEqual(await hits({ category: 'food' }), sorted(grandma, near));
      assert.deepEqual(await hits({ category: { eq: 'food' }, rating: { gte: 4 } }), [grandma]);
      assert.deepEqual(await hits({ category: { ne: 'food' } }), sorted(maker, plain), 'a missing key is "not equal"');
      assert.deepEqual(await hits({ category: { in: ['home', 'garden'] } }), [maker]);
      assert.deepEqual(await hits({ category: { nin: ['food'] } }), sorted(maker, plain));
      assert.deepEqual(await hits({ rating: { gt: 1, lt: 5 } }), [near]);
      assert.deepEqual(await hits({ rating: { lte: 3 } }), sorted(near, maker));
      assert.deepEqual(await hits({ tags: { contains: 'italian' } }), [grandma]);
      assert.deepEqual(await hits({ note: { contains: 'fair' } }), [maker]);
      assert.deepEqual(await hits({ 'place.city': 'Milan' }), [near]);
      assert.deepEqual(await hits({ or: [{ 'place.city': 'Rome' }, { category: 'home' }] }), sorted(grandma, maker));
      assert.deepEqual(await hits({ and: [{ category: 'food' }, { not: { rating: 5 } }] }), [near]);
      assert.deepEqual(await hits({ category: 'none' }), []);
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const past = new Date(Date.now() - 3_600_000).toISOString();
      assert.deepEqual(await hits({ category: 'food' }, { created_after: past }), sorted(grandma, near));
      assert.deepEqual((await search({ user_id: 'filters', query: 'pasta', created_after: future })).length, 0);
      assert.equal((await search({ user_id: 'filters', query: 'pasta', created_before: future, top_k: 20 })).length, 4);

      for (const filters of [{}, { rating: { between: [1, 2] } }, { and: [] }, { rating: {} }, { and: [{ a: 1 }], b: 2 }, { 'a..b': 1 }, { a: [1, 2] }]) {
        const res = await s.api('POST', `${M}/search`, { body: { query: 'pasta', filters } });
        assert.equal(res.status, 400, JSON.stringify(filters));
        assert.equal(res.body.error.code, 'validation_error');
      }
      assert.equal((await s.api('POST', `${M}/search`, { body: { query: 'x', created_after: 'yesterday' } })).status, 400);
      assert.equal((await s.api('POST', `${M}/search`, { body: { query: 'x', scope: 'messages' } })).status, 400, 'messages need an agent');
    });

    test('import a conversation: one transaction, original times kept; its messages are recalled with their neighbours', async () => {
      const base = Date.parse('2023-05-01T09:00:00Z');
      const turns = [
        ['user', 'I am planning a trip next month, any ideas?'],
        ['assistant', 'How about the coast? Where would you like to go?'],
        ['user', 'Somewhere quiet with good food'],
        ['assistant', 'Then try Porto: quiet streets and great seafood.'],
        ['user', 'By the way, my landlord raised the rent again'],
        ['assistant', 'That is annoying; check your contract.'],
      ] as const;
      const messages = turns.map(([role, content], i) => ({ role, content, created_at: new Date(base + i * 60_000).toISOString(), metadata: { n: i } }));
      const imported = await s.api('POST', '/api/v1/sessions/import', { body: { agent_id: agent.id, user_id: 'traveller', title: 'old chat', messages } });
      assert.equal(imported.status, 201, JSON.stringify(imported.body));
      assert.equal(imported.body.count, 6);
      const stored = (await s.api('GET', `/api/v1/sessions/${imported.body.session_id}/messages`)).body.data;
      assert.deepEqual(
        stored.map((m: StoredMessage) => [m.role, m.content]),
        turns.map(([r, c]) => [r, c]),
      );
      assert.deepEqual(
        stored.map((m: StoredMessage) => new Date(m.created_at).getTime()),
        messages.map((m) => Date.parse(m.created_at)),
      );

      // search over messages: the hit brings the reply after it
      const hits = await search({ user_id: 'traveller', query: 'where can I get great seafood?', scope: 'messages', message_range: { before: 1, after: 0 } });
      assert.equal(
        hits[0]!.content,
        'user (2023-05-01): Somewhere quiet with good food\nassistant (2023-05-01): Then try Porto: quiet streets and great seafood.',
      );
      assert.equal(hits[0]!.metadata.kind, 'message');
      assert.equal(hits[0]!.metadata.session_id, imported.body.session_id);
      // the imported time is searchable (date tokens) and filterable
      const later = await s.api('POST', '/api/v1/sessions/import', {
        body: {
          agent_id: agent.id,
          user_id: 'traveller',
          messages: [{ role: 'user', content: 'We adopted a puppy today', created_at: '2023-07-15T18:00:00+02:00' }],
        },
      });
      assert.equal(later.status, 201);
      assert.match(
        (await search({ user_id: 'traveller', query: 'What happened in July 2023?', scope: 'messages' }))[0]!.content,
        /^user \(2023-07-15\): We adopted a puppy/,
      );
      assert.deepEqual(await search({ user_id: 'traveller', query: 'rent', scope: 'messages', created_after: '2023-06-01T00:00:00Z' }), []);
      assert.equal((await search({ user_id: 'traveller', query: 'rent', scope: 'messages', filters: { n: { gte: 4 } } })).length, 2);
      // both: facts and messages fused
      await batch('traveller', [{ content: 'The user prefers trains to planes' }]);
      const both = await search({ user_id: 'traveller', query: 'trip trains', scope: 'both' });
      assert.ok(both.some((r) => r.metadata.kind === 'message') && both.some((r) => r.content === 'The user prefers trains to planes'));

      // all or nothing; limits; unknown agent
      const sessionsBefore = (await s.api('GET', `/api/v1/agents/${agent.id}/sessions?user_id=traveller`)).body.data.length;
      const bad = await s.api('POST', '/api/v1/sessions/import', {
        body: {
          agent_id: agent.id,
          user_id: 'traveller',
          messages: [
            { role: 'user', content: 'ok', created_at: '2023-01-01T00:00:00Z' },
            { role: 'tool', content: 'x', created_at: '2023-01-01T00:00:00Z' },
          ],
        },
      });
      assert.equal(bad.status, 400);
      assert.equal(
        (await s.api('POST', '/api/v1/sessions/import', { body: { agent_id: agent.id, messages: [{ role: 'user', content: 'x', created_at: 'last week' }] } }))
          .status,
        400,
      );
      assert.equal(
        (
          await s.api('POST', '/api/v1/sessions/import', {
            body: { agent_id: agent.id, messages: Array(10_001).fill({ role: 'user', content: 'x', created_at: '2023-01-01T00:00:00Z' }) },
          })
        ).status,
        400,
      );
      assert.equal(
        (
          await s.api('POST', '/api/v1/sessions/import', {
            body: { agent_id: '00000000-0000-4000-8000-000000000000', messages: [{ role: 'user', content: 'x', created_at: '2023-01-01T00:00:00Z' }] },
          })
        ).status,
        404,
      );
      assert.equal((await s.api('GET', `/api/v1/agents/${agent.id}/sessions?user_id=traveller`)).body.data.length, sessionsBefore);
    });

    test('episodic recall in chat: an agent with scope "messages" recalls past turns (live and imported), not the question itself', async () => {
      const agentBody = {
        name: 'episodic',
        streaming: { emit_metadata: true },
        memory: { extract: false, semantic_recall: { scope: 'messages', message_range: { before: 0, after: 1 } } },
      };
      const ep = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      assert.deepEqual([ep.memory.semantic_recall.scope, ep.memory.semantic_recall.message_range], ['messages', { before: 0, after: 1 }]);
      const imported = await s.api('POST', '/api/v1/sessions/import', {
        body: {
          agent_id: ep.id,
          user_id: 'remembering',
          messages: [
            { role: 'user', content: 'What was the name of the vet for my parrot?', created_at: '2022-11-02T10:00:00Z' },
            { role: 'assistant', content: 'You told me it was Dr. Okafor.', created_at: '2022-11-02T10:00:05Z' },
          ],
        },
      });
      assert.equal(imported.status, 201);
      // a live turn in another session is indexed as it is stored
      await streamChat(s, ep.id, { message: 'My bicycle is a blue Gazelle', user_id: 'remembering' });
      const { events } = await streamChat(s, ep.id, { message: 'who is the vet of my parrot?', user_id: 'remembering' });
      const meta = events.find((e) => e.chunk_type === 'metadata');
      assert.ok(meta, JSON.stringify(events).slice(0, 300));
      const vet = meta.recalled.find((r: MemoryRow) => r.content.includes('parrot'));
      assert.ok(vet, JSON.stringify(meta.recalled));
      assert.match(vet.content, /Dr\. Okafor/, 'the reply after the hit came along');
      assert.ok(!meta.recalled.some((r: MemoryRow) => r.content.includes('who is the vet')), 'not the question itself');
      const bike = await streamChat(s, ep.id, { message: 'what bicycle do I have?', user_id: 'remembering' });
      const bikeMeta = bike.events.find((e) => e.chunk_type === 'metadata');
      assert.ok(
        bikeMeta.recalled.some((r: MemoryRow) => r.content.includes('blue Gazelle')),
        JSON.stringify(bikeMeta.recalled),
      );
      // deleting the session removes its messages from recall
      const sid = imported.body.session_id;
      assert.equal((await s.api('DELETE', `/api/v1/sessions/${sid}`)).status, 204);
      const gone = await s.api('POST', `${M}/search`, { body: { agent_id: ep.id, user_id: 'remembering', query: 'parrot vet', scope: 'messages' } });
      assert.ok(!gone.body.results.some((r: MemoryHit) => r.metadata.session_id === sid));
    });

    test('bench recall on the synthetic sets: the default beats plain BM25 by ≥ 25 % (recall@10), in English and Chinese', async () => {
      for (const lang of ['en', 'zh']) {
        const r = await runRecallBench({
          dataset: join(import.meta.dirname, 'fixtures', 'recall', `synthetic-${lang}`),
          database: engine === 'pglite' ? 'memory://' : adminPg,
          configs: ['default'],
        });
        const d = r.configs[0]!;
        assert.equal(d.quality.questions, 84);
        assert.ok(d.quality.recall_at_10 >= r.plain_bm25.recall_at_10 * 1.25 && d.quality.recall_at_10 > 0.9, `${lang}: ${JSON.stringify(r)}`);
        assert.ok(d.quality.mrr > 0 && d.quality.recall_at_5 <= d.quality.recall_at_10);
        assert.ok(d.server_search_ms.p50 > 0, 'the server reported its time');
      }
    });
  });
}
