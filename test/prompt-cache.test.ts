// The provider's prompt cache, visible: an agent with a long system prompt (over the
// 1,024 tokens from which OpenAI caches) sends the same prefix every turn; from its
// second turn the emulator serves it from its prefix cache, and agentmem reports the
// cached prompt tokens in `done.usage`, the JSON answer, the OpenAI route's usage
// (stream and not) and /metrics. Over real sockets, on both engines.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { chatOf, emulatorAgent, engines, readSse, serverAndEmulator, streamChat, type TestServer } from './harness.ts';

// ~1,500 prompt tokens of distinct words, different per engine so the suites share no prefix
const longPrompt = (tag: string) => `You are ${tag}. ` + Array.from({ length: 1500 }, (_, i) => `w${i}`).join(' ');

for (const engine of engines) {
  describe(`prompt cache use on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let agentId: string;
    serverAndEmulator(engine, (w) => ({ s, emu } = w), { server: { metricsModels: ['gpt-emu'] } }); // the emulator's model, named by the operator (else "other")
    before(async () => {
      const agent = await emulatorAgent(
        s,
        emu,
        { text: 'Noted.' },
        {
          system_prompt: longPrompt(`agent-${engine}`),
          // nothing per turn at the top of the prompt: the system prompt is the shared prefix
          memory: { extract: false, semantic_recall: { enabled: false } },
        },
      );
      agentId = agent.id;
    });

    let sessionId: string;
    test('native SSE: the first turn has nothing cached; the second reports the system prompt cached in done.usage', async () => {
      const first = await streamChat(s, agentId, { message: 'first question' });
      const done1 = first.events.find((e) => e.chunk_type === 'done');
      assert.ok(done1, JSON.stringify(first.events.at(-1)));
      sessionId = done1.session_id;
      assert.ok(done1.usage.prompt_tokens > 1024, `${done1.usage.prompt_tokens} prompt tokens`);
      assert.equal(done1.usage.cached_prompt_tokens, 0);

      const second = await streamChat(s, agentId, { message: 'second question', session_id: sessionId });
      const done2 = second.events.find((e) => e.chunk_type === 'done');
      const { prompt_tokens, cached_prompt_tokens } = done2.usage;
      assert.ok(cached_prompt_tokens >= 1024, `cached ${cached_prompt_tokens} of ${prompt_tokens}`);
      assert.equal((cached_prompt_tokens - 1024) % 128, 0, 'OpenAI caches in 128-token steps');
      assert.ok(cached_prompt_tokens <= prompt_tokens);
      // what the emulator's cache served that request, passed on as it was
      const upstream = emu.requests.findLast((r) => chatOf(r).messages.at(-1)!.content === 'second question')!;
      assert.equal(cached_prompt_tokens, upstream.prompt!.cached);
      assert.equal(prompt_tokens, upstream.prompt!.tokens);
    });

    test('JSON chat: usage.cached_prompt_tokens', async () => {
      const res = await s.api('POST', `/api/v1/agents/${agentId}/chat`, { body: { message: 'third question', session_id: sessionId } });
      assert.equal(res.status, 200);
      assert.ok(res.body.usage.cached_prompt_tokens >= 1024, JSON.stringify(res.body.usage));
      assert.ok(res.body.usage.cached_prompt_tokens <= res.body.usage.prompt_tokens);
    });

    test('OpenAI route: usage.prompt_tokens_details.cached_tokens, non-stream and stream', async () => {
      const post = (body: object) =>
        fetch(`${s.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: agentId, ...body }),
        });
      const plainRes = await post({ messages: [{ role: 'user', content: 'a fresh chat' }] });
      const plain = (await plainRes.json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } };
      assert.equal(plainRes.status, 200, JSON.stringify(plain));
      assert.ok(plain.usage.prompt_tokens_details.cached_tokens >= 1024, JSON.stringify(plain.usage));
      assert.ok(!('cached_prompt_tokens' in plain.usage), 'the OpenAI shape, not ours');

      const res = await post({ messages: [{ role: 'user', content: 'a streamed chat' }], stream: true, stream_options: { include_usage: true } });
      const chunks = (await readSse(res)).map((f) => f.data).filter((d) => d !== '[DONE]');
      const usage = chunks.findLast((c) => c.usage)?.usage;
      assert.ok(usage?.prompt_tokens_details?.cached_tokens >= 1024, JSON.stringify(usage));
    });

    test('/metrics: prompt tokens counted cached and uncached', async () => {
      const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
      const count = (cache: string) =>
        Number(new RegExp(`^agentmem_prompt_tokens_total\\{provider="openai-compatible",model="gpt-emu",cache="${cache}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
      assert.ok(count('cached') >= 3 * 1024, `cached: ${count('cached')}`);
      assert.ok(count('uncached') >= 1024, `uncached: ${count('uncached')} (the first turn's whole prompt)`);
    });
  });
}
