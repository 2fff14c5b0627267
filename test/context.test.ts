// Context that fits (issue 16), over real sockets against the emulator, which refuses
// an over-long request with each provider's real context-length error: a long session
// stays answerable with every upstream request inside the window, a message that alone
// cannot fit is a 400 before any upstream call, and earlier turns' tool calls and results
// travel in the window as the wire formats expect.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { requestTokens } from '../src/emulator/context.ts';
import type { Emulator } from '../src/emulator/server.ts';
import { chatOf, engines, streamChat, type SentMessage, type TestServer, serverAndEmulator } from './harness.ts';

const WORDS = 'the river runs past old stone houses where people talk about weather markets trains books music gardens and the long summer evenings'.split(' ');
/** Deterministic English prose of about `n` words, different for each `seed`. */
export function prose(seed: number, n: number): string {
  let x = seed * 7919 + 1;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (x * 48271) % 2147483647;
    out.push(WORDS[x % WORDS.length]!);
  }
  return out.join(' ');
}

const WINDOW = 6_000;
const ANSWER = 500;

for (const engine of engines) {
  describe(`context window on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    const formats = [
      { name: 'OpenAI', provider: 'openai-compatible', model: 'gpt-4o', path: 'v1' },
      { name: 'Zhipu', provider: 'zhipu', model: 'glm-4-flash', path: 'api/paas/v4' },
    ] as const;
    const agentFor = async (f: (typeof formats)[number], llm: object = {}, extra: object = {}) => {
      const res = await s.api('POST', '/api/v1/agents', {
        body: {
          name: `ctx-${f.name}`,
          llm: {
            provider: f.provider,
            model: f.model,
            api_key: 'kid.ksecret',
            base_url: `${emu.url}/~context_tokens=${WINDOW}/${f.path}`,
            max_context_tokens: WINDOW,
            max_tokens: ANSWER,
            ...llm,
          },
          memory: { last_messages: 500, extract: false },
          ...extra,
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const chat = (agentId: string, body: object) => s.api('POST', `/api/v1/agents/${agentId}/chat`, { body });

    for (const f of formats) {
      test(`${f.name}: a session of 200 long messages is answered, every upstream request inside the window`, async () => {
        const agent = await agentFor(f);
        let session: string | undefined;
        const from = emu.requests.length;
        for (let i = 0; i < 100; i++) {
          const message = `Turn ${i}: ${prose(i, 200)}`; // over 1,024 characters: counted by its bound first
          const res = await chat(agent.id, { message, session_id: session });
          assert.equal(res.status, 200, `turn ${i}: ${JSON.stringify(res.body)}`);
          assert.match(res.body.content, new RegExp(`^Echo: Turn ${i}:`), 'the newest message reached the model whole');
          session = res.body.session_id;
        }
        const stored = await s.api('GET', `/api/v1/sessions/${session}/messages?limit=500`);
        assert.equal(stored.body.data.length, 200, 'all 200 messages are stored');

        const sent = emu.requests.slice(from).map((r) => chatOf(r));
        assert.equal(sent.length, 100);
        for (const body of sent) {
          assert.ok(requestTokens(body) + ANSWER <= WINDOW, `${requestTokens(body)} + ${ANSWER} tokens exceed the ${WINDOW} window`);
        }
        const last = sent.at(-1)!;
        assert.match(last.messages.at(-1)!.content, /^Turn 99:/);
        assert.ok(!last.messages.some((m) => /^(?:Echo: )?Turn 0:/.test(m.content ?? '')), 'the oldest turns gave way');
        assert.ok(
          last.messages.some((m) => /^Turn 98:/.test(m.content ?? '')),
          'the newest turns stayed',
        );
        // The window is used, not emptied: it fills to nearly all of the prompt's room, and
        // when it gives way (in chunks, so the prompt's prefix stays put) it keeps about half
        // of it (whole exchanges, so up to one less).
        // (The room in the emulator's o200k tokens: the agent counts a GLM model's with a margin.)
        const room = (WINDOW - ANSWER) / (f.name === 'Zhipu' ? 1.2 : 1);
        const sizes = sent.slice(50).map((b) => requestTokens(b));
        assert.ok(Math.max(...sizes) > room * 0.9, `at most ${Math.max(...sizes)} tokens sent`);
        assert.ok(Math.min(...sizes) > room * 0.45, `as few as ${Math.min(...sizes)} tokens sent`);
        // Oldest first, user and assistant alternating, as a chat reads.
        const roles = last.messages.slice(1).map((m) => m.role);
        for (let i = 1; i < roles.length; i++) assert.notEqual(roles[i], roles[i - 1], `roles alternate: ${roles.join(',')}`);
      });

      test(`${f.name}: the emulator refuses what does not fit, so the window above is real`, async () => {
        // An agent told its model has a far larger window than it has: nothing holds the prompt back.
        const agent = await agentFor(f, { max_context_tokens: 100_000 });
        let session: string | undefined;
        let refused: { error: { code: string; message: string } } | undefined;
        for (let i = 0; i < 40 && !refused; i++) {
          const res = await chat(agent.id, { message: `Turn ${i}: ${prose(i, 150)}`, session_id: session });
          session = res.body.session_id;
          if (res.status !== 200) refused = res.body;
        }
        assert.ok(refused, 'the provider refused an over-long prompt');
        assert.equal(refused.error.code, 'upstream_bad_request');
        assert.match(refused.error.message, f.name === 'OpenAI' ? /maximum context length is 6000 tokens/ : /Prompt 超长|1261/);
      });

      test(`${f.name}: a message that alone cannot fit is a 400 context_too_long, before any upstream call`, async () => {
        const agent = await agentFor(f);
        const huge = prose(7, 8_000);
        const before = emu.requests.length;
        const json = await chat(agent.id, { message: huge, user_id: 'ctx-user' });
        assert.equal(json.status, 400);
        assert.equal(json.body.error.code, 'context_too_long');
        assert.match(json.body.error.message, /more than the \d+ this agent's model has/);
        const stream = await fetch(`${s.url}/api/v1/agents/${agent.id}/chat/stream`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: huge }),
        });
        assert.equal(stream.status, 400);
        assert.equal(((await stream.json()) as { error: { code: string } }).error.code, 'context_too_long');
        assert.equal(emu.requests.length, before, 'nothing was sent upstream');
        const sessions = await s.api('GET', `/api/v1/agents/${agent.id}/sessions?user_id=ctx-user`);
        assert.deepEqual(sessions.body.data, [], 'nothing was stored');
        // Just under the limit is answered whole.
        const fits = await chat(agent.id, { message: prose(7, 700) });
        assert.equal(fits.status, 200, JSON.stringify(fits.body));
      });
    }

    test('tool calls and results of earlier turns stay in the window, as the wire format expects', async () => {
      const calls = encodeURIComponent(JSON.stringify([{ name: 'memory_search', arguments: { query: 'tea' } }]));
      const agent = await agentFor(
        formats[0],
        { base_url: `${emu.url}/~context_tokens=${WINDOW}/~tool_calls=${calls}/~text=Done./v1` },
        { tools: [{ type: 'memory_search' }] },
      );
      const first = await streamChat(s, agent.id, { message: 'What tea do I like?', user_id: 'tea-user' });
      assert.equal(first.events.at(-1).chunk_type, 'done', JSON.stringify(first.events.at(-1)));
      const from = emu.requests.length;
      await streamChat(s, agent.id, { message: 'And coffee?', session_id: first.events[0].session_id });
      const msgs = chatOf(emu.requests[from]!).messages;
      const i = msgs.findIndex((m) => m.content === 'What tea do I like?');
      assert.ok(i > 0, 'the earlier question is in the window');
      const [call, result, answer] = msgs.slice(i + 1, i + 4) as [SentMessage, SentMessage, SentMessage];
      assert.equal(call.role, 'assistant');
      assert.equal(call.tool_calls![0]!.function.name, 'memory_search');
      assert.deepEqual(JSON.parse(call.tool_calls![0]!.function.arguments), { query: 'tea' });
      assert.deepEqual([result.role, result.tool_call_id], ['tool', call.tool_calls![0]!.id]);
      assert.deepEqual([answer.role, answer.content], ['assistant', 'Done.']);
      assert.equal(msgs.at(-1)!.content, 'And coffee?');
    });
  });
}
