// Working memory over real sockets, on both engines: a block per (agent, user) set by the
// API and by the agent's own tool reaches that user's prompts only, survives a restart,
// is invisible to another organization, and is size-limited with a clear 400. The
// simulated model shows its notes in its answer ("My notes: …"), so a test can see them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { apiClient, chatOf, createOrg, engines, restartableServer, streamChat, type TestServer, serverAndEmulator } from './harness.ts';

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };
const working = { enabled: true, template: '## Name\n\n## Likes' };

for (const engine of engines) {
  describe(`working memory on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));
    const agentWith = async (body: object) => {
      const res = await s.api('POST', '/api/v1/agents', { body: { name: 'notes', llm: fast, memory: { working, extract: false }, ...body } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const wm = (agentId: string, user: string) => `/api/v1/agents/${agentId}/working-memory/${user}`;

    test("set by the API: in that user's prompts only; the template until then", async () => {
      const agent = await agentWith({});
      const empty = await s.api('GET', wm(agent.id, 'ada'));
      assert.equal(empty.status, 200);
      assert.deepEqual([empty.body.content, empty.body.updated_at], [working.template, null]);

      const put = await s.api('PUT', wm(agent.id, 'ada'), { body: { content: 'Name: Ada\nLikes: green tea' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.content, 'Name: Ada\nLikes: green tea');
      assert.ok(put.body.updated_at);
      assert.equal((await s.api('GET', wm(agent.id, 'ada'))).body.content, 'Name: Ada\nLikes: green tea');

      const ada = await streamChat(s, agent.id, { message: 'What do I like?', user_id: 'ada' });
      assert.match(ada.text, /My notes: Name: Ada \| Likes: green tea\./);
      const bob = await streamChat(s, agent.id, { message: 'What do I like?', user_id: 'bob' });
      assert.doesNotMatch(bob.text, /green tea/);
      assert.match(bob.text, /My notes: ## Name \| ## Likes\./, "another user's prompt has the template");
      const anonymous = await streamChat(s, agent.id, { message: 'What do I like?' });
      assert.doesNotMatch(anonymous.text, /My notes/, 'no user, no working memory');

      // A second write replaces the block, and the next turn (same session) sees the new one.
      await s.api('PUT', wm(agent.id, 'ada'), { body: { content: 'Likes: coffee now' } });
      const again = await streamChat(s, agent.id, { message: 'And now?', session_id: ada.events[0].session_id });
      assert.match(again.text, /My notes: Likes: coffee now\./);
      assert.doesNotMatch(again.text, /green tea/);
    });

    test('too large is a clear 400; bad ids and another org are 404; a scoped key reaches only its user', async () => {
      const agent = await agentWith({});
      const big = await s.api('PUT', wm(agent.id, 'ada'), { body: { content: 'x'.repeat(16_001) } });
      assert.equal(big.status, 400);
      assert.equal(big.body.error.code, 'validation_error');
      assert.match(big.body.error.message, /at most 16000 characters/);
      assert.equal((await s.api('PUT', wm(agent.id, 'ada'), { body: {} })).status, 400);
      assert.equal((await s.api('GET', wm('not-a-uuid', 'ada'))).status, 404);
      assert.equal((await s.api('GET', wm('00000000-0000-4000-8000-000000000000', 'ada'))).status, 404);

      await s.api('PUT', wm(agent.id, 'ada'), { body: { content: 'Secret notes of Ada' } });
      const other = await createOrg(s.api, `wm-other-${engine}`);
      for (const method of ['GET', 'PUT']) {
        const res = await s.api(method, wm(agent.id, 'ada'), { key: other.key, body: method === 'PUT' ? { content: 'overwritten' } : undefined });
        assert.equal(res.status, 404, `${method}: ${JSON.stringify(res.body)}`);
        assert.doesNotMatch(JSON.stringify(res.body), /Secret notes/);
      }
      const theirs = (await s.api('POST', '/api/v1/agents', { key: other.key, body: { name: 'theirs', llm: fast, memory: { working } } })).body;
      const chat = await streamChat(s, theirs.id, { message: 'hi', user_id: 'ada' }, other.key);
      assert.doesNotMatch(chat.text, /Secret notes/, "another org's agent never sees it");
      assert.equal((await s.api('GET', wm(agent.id, 'ada'))).body.content, 'Secret notes of Ada', 'unchanged');

      const scoped = (await s.api('POST', '/api/v1/api-keys', { body: { name: 'web:ada', user_id: 'ada', agent_ids: [agent.id] } })).body.key;
      assert.equal((await s.api('GET', wm(agent.id, 'ada'), { key: scoped })).body.content, 'Secret notes of Ada');
      const bob = await s.api('GET', wm(agent.id, 'bob'), { key: scoped });
      assert.equal(bob.status, 403);
      assert.equal((await s.api('PUT', wm(agent.id, 'bob'), { key: scoped, body: { content: 'x' } })).status, 403);
    });

    test('deleting the user forgets their working memory', async () => {
      const agent = await agentWith({});
      assert.equal((await s.api('POST', '/api/v1/users', { body: { id: 'leaver-wm' } })).status, 201);
      await s.api('PUT', wm(agent.id, 'leaver-wm'), { body: { content: 'Leaver notes' } });
      assert.match((await streamChat(s, agent.id, { message: 'hi', user_id: 'leaver-wm' })).text, /Leaver notes/);
      assert.equal((await s.api('DELETE', '/api/v1/users/leaver-wm')).status, 200);
      const after = await s.api('GET', wm(agent.id, 'leaver-wm'));
      assert.deepEqual([after.body.content, after.body.updated_at], [working.template, null]);
      assert.doesNotMatch((await streamChat(s, agent.id, { message: 'hi', user_id: 'leaver-wm' })).text, /Leaver notes/, 'not from a cache either');
    });

    test('the working_memory_update tool rewrites it, streamed as memory_update WORKING, seen by the next turn', async () => {
      const calls = encodeURIComponent(JSON.stringify([{ name: 'working_memory_update', arguments: { content: 'Name: Eve\nLives in: Lisbon' } }]));
      const agent = await agentWith({
        llm: { provider: 'openai-compatible', model: 'gpt-4o', api_key: 'k', base_url: `${emu.url}/~tool_calls=${calls}/~text=Noted./v1` },
      });
      const from = emu.requests.length;
      const turn = await streamChat(s, agent.id, { message: 'I moved to Lisbon.', user_id: 'eve' });
      assert.equal(turn.events.at(-1).chunk_type, 'done', JSON.stringify(turn.events.at(-1)));
      const first = chatOf(emu.requests[from]!);
      assert.ok(
        first.tools!.some((t) => t.function.name === 'working_memory_update'),
        'the tool is offered',
      );
      // (beside the user's message, where what may change from turn to turn goes: docs/memory.md)
      assert.match(
        first.messages.at(-1)!.content,
        /<working_memory>\n## Name\n\n## Likes\n<\/working_memory>\n\nI moved to Lisbon\.$/,
        "the template is in the turn's block",
      );
      assert.doesNotMatch(first.messages[0]!.content, /working_memory>/, 'not in the system message');
      const update = turn.events.find((e) => e.chunk_type === 'memory_update');
      assert.deepEqual([update.event, update.content, update.memory_id], ['WORKING', 'Name: Eve\nLives in: Lisbon', 'working:user:eve']);
      assert.equal(turn.events.find((e) => e.chunk_type === 'tool_result').output, 'Working memory updated.');
      assert.equal((await s.api('GET', wm(agent.id, 'eve'))).body.content, 'Name: Eve\nLives in: Lisbon');

      const next = emu.requests.length;
      await streamChat(s, agent.id, { message: 'Where do I live?', user_id: 'eve' });
      assert.match(chatOf(emu.requests[next]!).messages.at(-1)!.content, /<working_memory>\nName: Eve\nLives in: Lisbon\n<\/working_memory>/);
      await streamChat(s, agent.id, { message: 'Where do I live?', user_id: 'mallory' });
      assert.doesNotMatch(JSON.stringify(emu.requests.at(-2)!.body), /Lisbon/, "another user's prompt");
    });

    test('scope "session": one block per session, written by the tool', async () => {
      const calls = encodeURIComponent(JSON.stringify([{ name: 'working_memory_update', arguments: { content: 'Task: plan a trip' } }]));
      const agent = await agentWith({
        llm: { provider: 'openai-compatible', model: 'gpt-4o', api_key: 'k', base_url: `${emu.url}/~tool_calls=${calls}/~text=Ok./v1` },
        memory: { working: { enabled: true, scope: 'session' }, extract: false },
      });
      const one = await streamChat(s, agent.id, { message: 'Plan a trip', user_id: 'sam' });
      assert.equal(one.events.find((e) => e.chunk_type === 'memory_update').memory_id, `working:session:${one.events[0].session_id}`);
      const from = emu.requests.length;
      await streamChat(s, agent.id, { message: 'Go on', session_id: one.events[0].session_id });
      assert.match(chatOf(emu.requests[from]!).messages.at(-1)!.content, /Task: plan a trip/);
      const fresh = emu.requests.length;
      await streamChat(s, agent.id, { message: 'Hello', user_id: 'sam' });
      assert.doesNotMatch(JSON.stringify(chatOf(emu.requests[fresh]!).messages), /plan a trip/, 'a new session starts empty');
      assert.equal((await s.api('PUT', wm(agent.id, 'sam'), { body: { content: 'x' } })).status, 400);
    });
  });

  describe(`working memory across a restart on ${engine}`, () => {
    test('what was written is in the prompt after the server restarts', async () => {
      const store = await restartableServer(engine);
      const key = store.adminKey;
      const start = store.start;
      let app = await start();
      try {
        let api = apiClient(app.url, key);
        const agent = (await api('POST', '/api/v1/agents', { body: { name: 'durable', llm: fast, memory: { working: { enabled: true } } } })).body;
        assert.equal((await api('PUT', `/api/v1/agents/${agent.id}/working-memory/kim`, { body: { content: 'Kim plays the cello.' } })).status, 200);
        await app.close();
        app = await start();
        api = apiClient(app.url, key);
        assert.equal((await api('GET', `/api/v1/agents/${agent.id}/working-memory/kim`)).body.content, 'Kim plays the cello.');
        const turn = await streamChat({ url: app.url, adminKey: key }, agent.id, { message: 'What do I play?', user_id: 'kim' });
        assert.match(turn.text, /My notes: Kim plays the cello\./);
      } finally {
        await app.close();
        await store.drop();
      }
    });
  });
}
