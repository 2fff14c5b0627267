// Rolling summaries over real sockets, on both engines: once a session's unsummarized
// history passes memory.summary.trigger_tokens, a background job folds its oldest part
// into a summary, visible at GET /sessions/:id, and later prompts carry the summary plus
// the messages after it. The simulated model summarizes offline; against the emulator,
// memory.summary.model is the model asked.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { SUMMARY_MARKER } from '../src/llm/task-markers.ts';
import { chatOf, engines, streamChat, type StoredMessage, type TestServer, serverAndEmulator, waitFor } from './harness.ts';

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };
const filler = 'We walked along the harbour and talked about boats, bread, music and the weather for a long while.';

for (const engine of engines) {
  describe(`rolling summaries on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    /** Polls the session until its summary covers something (or `ms` pass). */
    const summarized = (sessionId: string, ms = 15_000, notThrough?: string) =>
      waitFor(
        'a summary',
        async () => {
          const session = (await s.api('GET', `/api/v1/sessions/${sessionId}`)).body;
          assert.ok(session.summary && session.summarized_through !== notThrough, JSON.stringify(session));
          return session;
        },
        { timeoutMs: ms, intervalMs: 50 },
      );

    test('the simulated model: a summary appears after the trigger, and later prompts use it instead of the old messages', async () => {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: { name: 'summarizer', llm: fast, memory: { extract: false, last_messages: 100, summary: { enabled: true, trigger_tokens: 400 } } },
        })
      ).body;
      const first = await streamChat(s, agent.id, { message: `My name is Ada. ${filler}`, user_id: 'ada' });
      const session = first.events[0].session_id;
      assert.equal((await s.api('GET', `/api/v1/sessions/${session}`)).body.summary, null, 'no summary below the trigger');
      for (let i = 1; i < 6; i++) await streamChat(s, agent.id, { message: `Fact ${i}: I like colour ${i}. ${filler}`, session_id: session });

      const summed = await summarized(session);
      assert.match(summed.summary, /The user said: My name is Ada\./);
      const messages = (await s.api('GET', `/api/v1/sessions/${session}/messages`)).body.data;
      const through = messages.findIndex((m: StoredMessage) => m.id === summed.summarized_through);
      assert.ok(through > 0, 'summarized_through is a message of the session');
      assert.equal(messages[through].role, 'assistant', 'the summary ends after an answer');
      assert.ok(through < messages.length - 1, 'the newest messages stay unsummarized');

      const later = await streamChat(s, agent.id, { message: 'What is my name?', session_id: session });
      assert.match(later.text, /Earlier: .*The user said: My name is Ada\./, 'the summary reached the prompt');
      // The simulated model counts the user messages it was sent: fewer than the session's 7.
      const turns = Number(/\(turn (\d+) of this conversation\)/.exec(later.text)?.[1] ?? 1);
      const userMessagesAfter = messages.slice(through + 1).filter((m: StoredMessage) => m.role === 'user').length;
      assert.equal(turns, userMessagesAfter + 1, 'the window holds only the messages after the summary');
    });

    test('memory.summary.model is the model asked; the summary rolls on; one request per summary', async () => {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'summarizer-emu',
            llm: { provider: 'openai-compatible', model: 'gpt-4o', api_key: 'k', base_url: `${emu.url}/v1` },
            memory: { extract: false, last_messages: 100, summary: { enabled: true, trigger_tokens: 300, model: 'gpt-4o-mini' } },
          },
        })
      ).body;
      const from = emu.requests.length;
      const first = await streamChat(s, agent.id, { message: `Opening line. ${filler}`, user_id: 'emu-user' });
      const session = first.events[0].session_id;
      for (let i = 1; i < 5; i++) await streamChat(s, agent.id, { message: `Line ${i}. ${filler}`, session_id: session });
      const one = await summarized(session);

      const asked = emu.requests.slice(from).filter((r) => chatOf(r).messages[0]!.content.startsWith(SUMMARY_MARKER));
      assert.equal(asked.length, 1, 'one summary request');
      assert.equal(chatOf(asked[0]!).model, 'gpt-4o-mini');
      assert.match(chatOf(asked[0]!).messages[0]!.content, /<conversation>\nuser: Opening line\./);
      assert.equal(one.summary, 'Echo: Write the updated summary of the conversation above.', "the model's answer is the summary");

      const next = emu.requests.length;
      await streamChat(s, agent.id, { message: 'Go on.', session_id: session });
      const prompt = chatOf(emu.requests[next]!).messages;
      assert.equal(prompt[0]!.role, 'system');
      assert.match(prompt[0]!.content, /<summary>\nEcho: Write the updated summary of the conversation above\.\n<\/summary>/);
      assert.ok(!prompt.some((m) => /^Opening line\./.test(m.content ?? '')), 'summarized messages left the window');
      assert.equal(prompt.at(-1)!.content, 'Go on.');

      // More turns: a second summary, over the first (the previous summary is in its request).
      for (let i = 5; i < 10; i++) await streamChat(s, agent.id, { message: `Line ${i}. ${filler}`, session_id: session });
      const two = await summarized(session, 15_000, one.summarized_through);
      assert.notEqual(two.summarized_through, one.summarized_through);
      const requests = emu.requests.slice(from).filter((r) => chatOf(r).messages[0]!.content.startsWith(SUMMARY_MARKER));
      assert.match(chatOf(requests.at(-1)!).messages[0]!.content, /<previous_summary>\nEcho: Write the updated summary/);
      const jobs = await s.app.db.query<{ n: number }>(`select count(*)::int as n from jobs where kind = 'session.summarize' and payload->>'session_id' = $1`, [
        session,
      ]);
      assert.equal(requests.length, jobs[0]!.n, 'one model request per summary job');
    });
  });
}
