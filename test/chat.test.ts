// Streaming chat end to end: the real server over a socket, the upstream emulator
// speaking the OpenAI and Zhipu wire formats over HTTP, on both engines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { chatOf, createOrg, engines, streamChat, type StoredMessage, type TestServer, serverAndEmulator, waitFor } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

const tricky = 'Hello, 世界! 你好，今天天气怎么样？ Emoji: 😀👍🏽👨‍👩‍👧‍👦🇩🇪 — done. ' + '混合 text 🎉 '.repeat(20);
// `drip` writes every byte of every frame on its own (a socket write and a loop turn each): the
// same characters, with fewer repeats, keep that to a third of the bytes (still past 64 code points).
const trickyDrip = 'Hello, 世界! 你好，今天天气怎么样？ Emoji: 😀👍🏽👨‍👩‍👧‍👦🇩🇪 — done. ' + '混合 text 🎉 '.repeat(3);

for (const engine of engines) {
  describe(`chat on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w), { emulator: { zhipuKeys: ['kid.ksecret'] } });

    const openaiAgent = async (o: Record<string, string | number> = {}, extra: object = {}) =>
      (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'oa',
            llm: { provider: 'openai-compatible', model: 'gpt-emu', base_url: `${emu.url}${optionPath(o)}/v1`, api_key: 'sk-emu', max_retries: 2 },
            ...extra,
          },
        })
      ).body;
    const messagesOf = async (sessionId: string) => (await s.api('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data;

    test('the simulated default works with no configuration at all', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'plain' } })).body;
      const { res, frames, events, text } = await streamChat(s, agent.id, { message: 'What is the capital of France?' });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
      assert.equal(res.headers.get('x-accel-buffering'), 'no');
      assert.match(res.headers.get('cache-control')!, /no-cache/);
      assert.equal(res.headers.get('content-encoding'), null);
      assert.deepEqual(
        frames.map((f) => f.id),
        frames.map((_, i) => String(i + 1)),
        'ids are 1..n',
      );
      assert.equal(events[0].chunk_type, 'start');
      assert.equal(events.at(-1).chunk_type, 'done');
      assert.ok(events.some((e) => e.chunk_type === 'content'));
      assert.match(text, /capital of France/, 'the answer visibly uses the input');
      const done = events.at(-1);
      assert.equal(done.finish_reason, 'stop');
      assert.ok(done.usage.completion_tokens > 0);
      for (const stage of ['auth', 'agent', 'history', 'prompt', 'upstream_ttfb', 'first_byte', 'total']) {
        assert.equal(typeof done.timings[stage], 'number', `timings.${stage}`);
      }
      // The stages the first byte waited for account for all of it.
      const path: Array<[string, number]> = done.timings.critical_path;
      assert.deepEqual(
        path.slice(0, 2).map(([stage]) => stage),
        ['auth', 'route'],
        JSON.stringify(path),
      );
      assert.equal(path.at(-1)![0], 'buffer');
      const sum = path.reduce((acc, [, ms]) => acc + ms, 0);
      assert.ok(Math.abs(sum - done.timings.first_byte) <= 1, `critical path ${JSON.stringify(path)} sums to ${sum}, first_byte ${done.timings.first_byte}`);
      const stored = await messagesOf(events[0].session_id);
      assert.deepEqual(
        stored.map((m: StoredMessage) => [m.role, m.status]),
        [
          ['user', 'complete'],
          ['assistant', 'complete'],
        ],
      );
      assert.equal(stored[1].content, text);
      assert.equal(stored[1].id, events[0].message_id);
    });

    test('the JSON endpoint returns content, ids, usage and timings', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'json' } })).body;
      const res = await s.api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'ping', user_id: 'u1' } });
      assert.equal(res.status, 200);
      assert.match(res.body.content, /ping/);
      assert.match(res.body.session_id, /^[0-9a-f-]{36}$/);
      assert.match(res.body.message_id, /^[0-9a-f-]{36}$/);
      assert.ok(res.body.usage.total_tokens > 0);
      assert.equal(typeof res.body.timings.total, 'number');
      const again = await s.api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'pong', session_id: res.body.session_id } });
      assert.equal(again.body.session_id, res.body.session_id);
      assert.equal((await messagesOf(res.body.session_id)).length, 4);
    });

    for (const size of [1, 7, 64]) {
      for (const fault of ['none', 'split_utf8', 'drip']) {
        test(`byte-exact reassembly: buffer ${size}, ${fault}`, async () => {
          const agent = await openaiAgent(
            // 'none' paced: each delta its own read, as a live model sends them
            { text: fault === 'drip' ? trickyDrip : tricky, ...(fault === 'none' ? { tokens_per_s: 200 } : { fault }) },
            // A long hold, so every flush but the last is a size flush and can be checked.
            { streaming: { text_buffer_size: size, flush_interval_ms: 10_000 } },
          );
          const { events, text } = await streamChat(s, agent.id, { message: 'say it' });
          assert.equal(events.at(-1).chunk_type, 'done', JSON.stringify(events.at(-1)));
          const said = fault === 'drip' ? trickyDrip : tricky;
          assert.equal(text, said);
          const contents = events.filter((e) => e.chunk_type === 'content').map((e) => e.content as string);
          for (const c of contents) assert.ok(!/[\uD800-\uDBFF]$/.test(c), 'no chunk ends inside a surrogate pair');
          for (const c of contents.slice(0, -1)) assert.ok([...c].length >= size, `a chunk of ${[...c].length} code points flushed before ${size}`);
          if (size === 1) assert.ok(contents.length > 10, 'size 1 sends every delta as it arrives');
          const stored = await messagesOf(events[0].session_id);
          assert.equal(stored[1].content, said);
        });
      }
    }

    test('history: the second turn sends the first turn upstream', async () => {
      const agent = await openaiAgent({ text: 'Noted.' }, { system_prompt: 'You are terse.' });
      const first = await streamChat(s, agent.id, { message: 'My name is Ada.' });
      const sessionId = first.events[0].session_id;
      const before = emu.requests.length;
      await streamChat(s, agent.id, { message: 'What is my name?', session_id: sessionId });
      const req = emu.requests.slice(before).find((r) => r.path.endsWith('/chat/completions'))!;
      const msgs = chatOf(req).messages;
      assert.deepEqual(
        msgs.map((m) => m.role),
        ['system', 'user', 'assistant', 'user'],
      );
      assert.equal(msgs[0]!.content, 'You are terse.');
      assert.equal(msgs[1]!.content, 'My name is Ada.');
      assert.equal(msgs[2]!.content, 'Noted.');
      assert.equal(msgs[3]!.content, 'What is my name?');
      assert.equal(chatOf(req).stream, true);
      assert.deepEqual(chatOf(req).stream_options, { include_usage: true });
      assert.equal(req.headers.authorization, 'Bearer sk-emu');
    });

    test('a failure before the first token is retried; a retried success is a normal answer', async () => {
      const agent = await openaiAgent({ fault: '500', fail_times: 1, text: 'after retry' });
      const { events, text } = await streamChat(s, agent.id, { message: 'hi' });
      assert.equal(events.at(-1).chunk_type, 'done');
      assert.equal(text, 'after retry');
    });

    test('a 429 is retried after Retry-After; the answer then arrives', async () => {
      const agent = await openaiAgent({ fault: '429', fail_times: 1, text: 'patience pays' });
      const started = Date.now();
      const { events, text } = await streamChat(s, agent.id, { message: 'hi' });
      assert.equal(events.at(-1).chunk_type, 'done');
      assert.equal(text, 'patience pays');
      assert.ok(Date.now() - started >= 900, 'waited for Retry-After: 1');
    });

    const faults: Array<[string, Record<string, string | number>, string, { llm_retries?: number; timeout?: number }?]> = [
      ['401', { fault: '401' }, 'upstream_auth'],
      ['429 every time', { fault: '429' }, 'upstream_rate_limited'],
      ['500 every time', { fault: '500' }, 'upstream_unavailable', { llm_retries: 1 }],
      ['disconnect mid-stream', { fault: 'disconnect_mid', text: 'one two three four five six seven eight' }, 'upstream_network'],
      ['malformed JSON line', { fault: 'malformed_json', text: 'one two three four five six seven eight' }, 'upstream_protocol'],
      ['hang before the first token', { fault: 'hang_before_first_token' }, 'upstream_timeout', { timeout: 300 }],
    ];
    for (const [name, o, code, extra] of faults) {
      test(`fault ${name} → error event ${code}, partial answer stored incomplete`, async () => {
        const llmExtra: Record<string, unknown> = { max_retries: extra?.llm_retries ?? 0 };
        if (extra?.timeout) llmExtra.first_token_timeout_ms = extra.timeout;
        const agent = await openaiAgent(o);
        await s.api('PATCH', `/api/v1/agents/${agent.id}`, { body: { llm: llmExtra } });
        const { events, text } = await streamChat(s, agent.id, { message: 'hi' });
        const last = events.at(-1);
        assert.equal(last.chunk_type, 'error', JSON.stringify(events));
        assert.equal(last.code, code);
        assert.equal(typeof last.message, 'string');
        assert.equal(typeof last.retryable, 'boolean');
        const stored = await messagesOf(events[0].session_id);
        assert.deepEqual(
          stored.map((m: StoredMessage) => m.role),
          ['user', 'assistant'],
        );
        assert.equal(stored[1].status, 'incomplete');
        assert.equal(stored[1].content, text, 'what was already said stays stored');
        assert.equal(stored[1].error.code, code);
      });
    }

    test('Zhipu: a signed JWT reaches the upstream, usage is read, sensitive becomes an error', async () => {
      const zhipu = (o: Record<string, string | number>) =>
        s.api('POST', '/api/v1/agents', {
          body: {
            name: 'glm',
            llm: {
              provider: 'zhipu',
              model: 'glm-4-flash',
              auth: 'jwt',
              api_key: 'kid.ksecret',
              base_url: `${emu.url}${optionPath(o)}/api/paas/v4`,
              max_retries: 0,
            },
          },
        });
      const agent = (await zhipu({ text: '智谱 answer 🌟' })).body;
      const before = emu.requests.length;
      const ok = await streamChat(s, agent.id, { message: '你好' });
      assert.equal(ok.events.at(-1).chunk_type, 'done');
      assert.equal(ok.text, '智谱 answer 🌟');
      assert.ok(ok.events.at(-1).usage.total_tokens > 0, 'Zhipu usage from its last chunk');
      const req = emu.requests.slice(before).find((r) => r.path.endsWith('/chat/completions'))!;
      assert.equal(req.jwtValid, true, 'emulator verified the HS256 JWT');
      assert.equal(chatOf(req).stream_options, undefined);

      const bad = (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'glm-bad',
            llm: { provider: 'zhipu', model: 'glm-4', auth: 'jwt', api_key: 'kid.wrong', base_url: `${emu.url}/api/paas/v4`, max_retries: 0 },
          },
        })
      ).body;
      const denied = await streamChat(s, bad.id, { message: 'hi' });
      assert.equal(denied.events.at(-1).code, 'upstream_auth');

      // Zhipu's in-stream error event carries 1234, its "network error" code (as test/faults.test.ts).
      for (const [fault, code] of [
        ['sensitive', 'upstream_content_filter'],
        ['network_error', 'upstream_network'],
        ['error_event', 'upstream_network'],
      ] as const) {
        const a = (await zhipu({ fault, text: 'some words before the trouble starts here' })).body;
        const r = await streamChat(s, a.id, { message: 'x' });
        assert.equal(r.events.at(-1).chunk_type, 'error', fault);
        assert.equal(r.events.at(-1).code, code, fault);
        const stored = await messagesOf(r.events[0].session_id);
        assert.equal(stored[1].status, 'incomplete');
        assert.equal(stored[1].content, r.text);
      }
    });

    test('a client that leaves aborts the upstream at once and the partial answer is kept', async () => {
      // 20 tokens a second for 200 tokens: the answer would run 10 s
      const letters = 'a b c d e f g h i j k l m n o p q r s t u v w x y z ';
      const whole = letters.repeat(8).trim();
      const agent = await openaiAgent({ tokens_per_s: 20, text: whole });
      const controller = new AbortController();
      const res = await fetch(`${s.url}/api/v1/agents/${agent.id}/chat/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'long please' }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      let seen = '';
      while (!seen.includes('"content"')) seen += new TextDecoder().decode((await reader.read()).value);
      const sessionId = /"session_id":"([^"]+)"/.exec(seen)![1]!;
      const before = emu.requests.length;
      const abortedAt = Date.now();
      controller.abort();
      const upstream = emu.requests.at(-1)!;
      await waitFor('the upstream request closed', () => upstream.closedAt !== undefined);
      // The answer would run ~10 s more: closing within half of that proves the cut (a bound
      // that says "not left running", not how fast; a loaded 2-core machine may take a while).
      assert.ok(upstream.closedAt! - abortedAt < 5_000, `upstream closed ${upstream.closedAt! - abortedAt} ms after the client left`);
      assert.equal(emu.requests.length, before);
      await waitFor('the answer stored incomplete', async () => (await messagesOf(sessionId))[1]?.status === 'incomplete');
      const stored = await messagesOf(sessionId);
      assert.equal(stored[1].error.code, 'client_aborted');
      assert.ok(stored[1].content.length > 0 && stored[1].content.length < whole.length / 2, `a part of the answer is kept: ${stored[1].content.length} chars`);
    });

    test('bad chat input and other orgs get 4xx JSON before any stream starts', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'guarded' } })).body;
      const other = await createOrg(s.api, `chat-other-${engine}`);
      const chat = (body: unknown, key = s.adminKey, id = agent.id) => s.api('POST', `/api/v1/agents/${id}/chat/stream`, { key, body });
      assert.equal((await chat({ message: 'hi' }, other.key)).status, 404);
      assert.equal((await s.api('POST', `/api/v1/agents/${agent.id}/chat`, { key: other.key, body: { message: 'hi' } })).status, 404);
      assert.equal((await chat({ message: 'hi' }, s.adminKey, 'nope')).status, 404);
      assert.equal((await chat({})).status, 400);
      assert.equal((await chat({ message: '' })).status, 400);
      assert.equal((await chat({ message: 'hi', extra: 1 })).status, 400);
      const nul = await chat({ message: 'hi\u0000there' });
      assert.deepEqual([nul.status, nul.body.error.code], [400, 'bad_request'], 'NUL cannot be stored: refused up front');
      assert.equal((await s.api('POST', '/api/v1/agents', { body: { name: 'a\u0000b' } })).status, 400);
      assert.equal((await chat({ message: 'a literal \\u0000 is fine' })).status, 200);
      assert.equal((await chat({ message: 'hi', session_id: '00000000-0000-4000-8000-000000000000' })).status, 404);
      const mine = await streamChat(s, agent.id, { message: 'hi', user_id: 'a' });
      const sessionId = mine.events[0].session_id;
      const otherAgent = (await s.api('POST', '/api/v1/agents', { key: other.key, body: { name: 'x' } })).body;
      const hijack = await s.api('POST', `/api/v1/agents/${otherAgent.id}/chat/stream`, { key: other.key, body: { message: 'hi', session_id: sessionId } });
      assert.equal(hijack.status, 404, "another org's session is not found");
      assert.equal((await chat({ message: 'hi', session_id: sessionId, user_id: 'b' })).status, 400);
    });

    test('streaming.text_delta_delay_ms paces the deltas: each waits that long after the one before', async () => {
      const DELAY = 40;
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'paced', streaming: { text_buffer_size: 1, text_delta_delay_ms: DELAY } } })).body;
      assert.equal(agent.streaming.text_delta_delay_ms, DELAY);
      const t0 = performance.now();
      const { events, text } = await streamChat(s, agent.id, { message: 'pace me, please' });
      const elapsed = performance.now() - t0;
      const deltas = events.filter((e) => e.chunk_type === 'content').length;
      assert.ok(deltas >= 3, `the answer came in ${deltas} deltas`);
      assert.ok(text.includes('pace me'), text);
      // a lower bound only (a loaded machine is slower, never faster): the simulated model itself answers at once
      assert.ok(elapsed >= (deltas - 1) * DELAY, `${deltas} deltas in ${elapsed.toFixed(0)} ms, at least ${(deltas - 1) * DELAY} expected`);
      assert.equal((await s.api('POST', '/api/v1/agents', { body: { name: 'x', streaming: { text_delta_delay_ms: -1 } } })).status, 400);
    });
  });
}
