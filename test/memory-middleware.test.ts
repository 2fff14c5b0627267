// agentmem as the memory of an app that calls its own model: the AI SDK middleware of the
// client package (@agentmem/client/ai-sdk) around a model the app calls itself (the AI SDK's
// OpenAI-compatible provider, on the emulator), with POST /agents/:id/context before the
// call and POST /agents/:id/exchanges after it, on a real server over a socket, both engines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { agentmemMemory } from '../packages/client/src/ai-sdk.ts';
import { createAgentmemClient } from '../packages/client/src/index.ts';
import type { Emulator } from '../src/emulator/server.ts';
import { createOrg, engines, messagesOf, serverAndEmulator, type StoredMessage, type TestServer } from './harness.ts';

/** The last chat request the app's model sent the emulator: its messages' text. */
function lastSent(emu: Emulator): Array<{ role: string; content: string }> {
  const req = emu.requests.filter((r) => r.path.endsWith('/chat/completions')).at(-1)!;
  // the AI SDK may send a message's content as parts
  const body = req.body as { messages: Array<{ role: string; content: string | Array<{ type: string; text?: string }> }> };
  return body.messages.map((m) => ({
    role: m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text ?? '').join(''),
  }));
}

for (const engine of engines) {
  describe(`memory for the app's own model (AI SDK middleware) on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    // The agent holds the memory (simulated: its extraction needs no model); the app calls its own.
    const appModel = () => createOpenAICompatible({ name: 'app', baseURL: `${emu.url}/v1`, apiKey: 'sk-app' }).chatModel('gpt-emu');
    const agentBody = { name: 'memory-only', system_prompt: 'You are a helpful assistant.' };

    test('a fact told through generateText is stored and recalled into a later session’s prompt sent by streamText', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const client = createAgentmemClient({ baseUrl: s.url, apiKey: s.adminKey });

      const first = agentmemMemory({ client, agentId: agent.id, userId: 'ada', waitForMemories: true });
      const told = await generateText({
        model: wrapLanguageModel({ model: appModel(), middleware: first }),
        prompt: 'My name is Ada Lovelace. I live in Berlin.',
      });
      assert.equal(told.text, 'Echo: My name is Ada Lovelace. I live in Berlin.');
      const sent1 = lastSent(emu);
      assert.deepEqual(sent1[0], { role: 'system', content: 'You are a helpful assistant.' }, "the agent's system prompt leads the app's call");
      assert.ok(first.sessionId, 'the first exchange started a session');
      assert.deepEqual(
        (await messagesOf(s, first.sessionId)).map((m: StoredMessage) => [m.role, m.content, m.status]),
        [
          ['user', 'My name is Ada Lovelace. I live in Berlin.', 'complete'],
          ['assistant', told.text, 'complete'],
        ],
        'the exchange is stored in the session',
      );
      assert.deepEqual(first.lastExchange?.memory_updates?.map((u) => [u.event, u.content]).sort(), [
        ['ADD', 'I live in Berlin'],
        ['ADD', 'My name is Ada Lovelace'],
      ]);

      // A later session of the same user, streamed: the memory is in the context and reaches the model.
      const later = agentmemMemory({ client, agentId: agent.id, userId: 'ada' });
      const asked = streamText({
        model: wrapLanguageModel({ model: appModel(), middleware: later }),
        system: 'Answer in one line.',
        prompt: 'Where do I live?',
      });
      const text = await asked.text;
      assert.ok(
        later.lastContext?.recalled.some((m) => m.content === 'I live in Berlin'),
        JSON.stringify(later.lastContext?.recalled),
      );
      const sent2 = lastSent(emu);
      assert.deepEqual(
        sent2.map((m) => m.role),
        ['system', 'system', 'user'],
      );
      assert.equal(sent2[1]!.content, 'Answer in one line.', "the app's own system message, after the agent's");
      assert.match(sent2.at(-1)!.content, /<memory>\n.*I live in Berlin.*\n<\/memory>\n\nWhere do I live\?$/s, 'the recalled memory is in the message sent');
      assert.notEqual(later.sessionId, first.sessionId, 'a new session');
      const stored = await messagesOf(s, later.sessionId!);
      assert.deepEqual(
        stored.map((m: StoredMessage) => [m.role, m.content]),
        [
          ['user', 'Where do I live?'],
          ['assistant', text],
        ],
        'the streamed exchange is stored once the stream has ended, the user’s own text without the memory block',
      );

      // The same middleware again: its session's history is in the next prompt.
      await generateText({ model: wrapLanguageModel({ model: appModel(), middleware: later }), prompt: 'And my name?' });
      const sent3 = lastSent(emu);
      assert.deepEqual(
        sent3.slice(1, 3).map((m) => [m.role, m.content]),
        [
          ['user', 'Where do I live?'],
          ['assistant', text],
        ],
        'the window of the session',
      );
      assert.equal((await messagesOf(s, later.sessionId!)).length, 4);
    });

    test('the context of another user, another organization or a scoped key’s other user holds none of the memories', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const client = createAgentmemClient({ baseUrl: s.url, apiKey: s.adminKey });
      await client.storeExchange(agent.id, { message: 'I live in Oslo.', answer: 'Noted.', user_id: 'kim', memory_updates: true });
      const own = await client.context(agent.id, { message: 'Where do I live?', user_id: 'kim' });
      assert.ok(own.recalled.some((m) => m.content === 'I live in Oslo'));
      const bob = await client.context(agent.id, { message: 'Where do I live?', user_id: 'bob' });
      assert.deepEqual(bob.recalled, []);
      assert.doesNotMatch(JSON.stringify(bob.messages), /Oslo/);

      const minted = await s.api('POST', '/api/v1/api-keys', { body: { name: 'web:kim', user_id: 'kim', agent_ids: [agent.id] } });
      const scoped = createAgentmemClient({ baseUrl: s.url, apiKey: minted.body.key });
      const mine = await scoped.context(agent.id, { message: 'Where do I live?' });
      assert.ok(
        mine.recalled.some((m) => m.content === 'I live in Oslo'),
        'a scoped key acts as its user',
      );
      await assert.rejects(scoped.context(agent.id, { message: 'Where do I live?', user_id: 'bob' }), {
        name: 'AgentmemError',
        code: 'forbidden',
        status: 403,
      });
      await assert.rejects(scoped.storeExchange(agent.id, { message: 'x', answer: 'y', user_id: 'bob' }), { code: 'forbidden' });

      const other = await createOrg(s.api, `middleware-${engine}`);
      const stranger = createAgentmemClient({ baseUrl: s.url, apiKey: other.key });
      await assert.rejects(stranger.context(agent.id, { message: 'Where do I live?', user_id: 'kim' }), { code: 'not_found', status: 404 });
      await assert.rejects(stranger.storeExchange(agent.id, { message: 'x', answer: 'y' }), { code: 'not_found', status: 404 });
    });

    test('the context is fitted to the agent’s window as a turn’s is; a message too long for it is refused', async () => {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: { ...agentBody, llm: { provider: 'simulated', model: 'sim', max_context_tokens: 600, max_tokens: 100 } },
        })
      ).body;
      const client = createAgentmemClient({ baseUrl: s.url, apiKey: s.adminKey });
      let session: string | undefined;
      for (let i = 0; i < 12; i++) {
        const stored = await client.storeExchange(agent.id, {
          message: `Question ${i}: ${'words '.repeat(20)}`,
          answer: `Answer ${i}: ${'more '.repeat(20)}`,
          session_id: session,
        });
        session = stored.session_id;
      }
      const ctx = await client.context(agent.id, { message: 'And now?', session_id: session });
      const history = ctx.messages.slice(1, -1);
      assert.ok(history.length > 0 && history.length < 24, `the window gave way: ${history.length} of 24 messages`);
      assert.match(history.at(-1)!.content!, /^Answer 11/, 'the newest exchange is kept');
      assert.equal(ctx.messages.at(-1)!.content, 'And now?');
      await assert.rejects(client.context(agent.id, { message: 'long '.repeat(2_000), session_id: session }), { code: 'context_too_long', status: 400 });
    });
  });
}
