// Reasoning models end to end, with the emulator speaking Zhipu's (glm-4.5) and DeepSeek's
// (deepseek-reasoner) real streaming formats: the reasoning streams on every surface (SSE,
// WebSocket, the AI SDK UI stream, OpenAI chunks), is stored with the answer and never sent
// back upstream (DeepSeek answers 400 if it is); the first reasoning token counts as the
// model's sign of life; llm.thinking is each provider's switch; extraction turns it off.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import WebSocket from 'ws';
import { EXTRACTION_MARKER } from '../src/llm/task-markers.ts';
import type { Emulator, RecordedRequest } from '../src/emulator/server.ts';
import { chatOf, engines, streamChat, type ChatEventLike, type TestServer, serverAndEmulator } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';
import { readUiMessage } from './ui-message.ts';

const THOUGHT = 'First I recall the question, then I answer {briefly}.';
const ANSWER = 'Here is the answer.';
/** The text of a stream's events of one kind, joined. */
const said = (events: ChatEventLike[], kind: 'reasoning' | 'content') =>
  events
    .filter((e) => e.chunk_type === kind)
    .map((e) => e.content)
    .join('');

for (const engine of engines) {
  describe(`reasoning models on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    const flavours = {
      zhipu: (o: Record<string, string | number> = {}, llm: object = {}) => ({
        provider: 'zhipu',
        model: 'glm-4.5',
        api_key: 'id.secret',
        base_url: `${emu.url}${optionPath({ reasoning: THOUGHT, text: ANSWER, ...o })}/api/paas/v4`,
        ...llm,
      }),
      deepseek: (o: Record<string, string | number> = {}, llm: object = {}) => ({
        provider: 'openai-compatible',
        model: 'deepseek-reasoner',
        api_key: 'sk',
        base_url: `${emu.url}${optionPath({ reasoning: THOUGHT, text: ANSWER, ...o })}/v1`,
        ...llm,
      }),
    };
    async function agent(llm: object, extra: object = {}) {
      const res = await s.api('POST', '/api/v1/agents', { body: { name: 'thinker', llm: { max_retries: 0, ...llm }, memory: { extract: false }, ...extra } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    }
    const chatRequests = (question: string) => emu.requests.filter((r) => chatOf(r)?.messages?.at(-1)?.content === question);

    for (const flavour of ['zhipu', 'deepseek'] as const) {
      test(`${flavour}: reasoning streams as chunk_type "reasoning", is stored, and is never sent back`, async () => {
        // paced, as a live model streams
        const id = await agent(flavours[flavour]({ tokens_per_s: 200 }));
        const first = await streamChat(s, id, { message: `Think, ${flavour}?` });
        const kinds = first.events.map((e) => e.chunk_type);
        const reasoning = first.events.filter((e) => e.chunk_type === 'reasoning');
        assert.equal(reasoning.map((e) => e.content).join(''), THOUGHT);
        assert.ok(reasoning.length > 3, 'streamed token by token');
        assert.ok(kinds.lastIndexOf('reasoning') < kinds.indexOf('content'), 'reasoning comes before the answer');
        assert.equal(first.text, ANSWER, 'the answer holds no reasoning');
        const done = first.events.at(-1);
        assert.equal(done.chunk_type, 'done');
        assert.ok(done.timings.first_reasoning > 0 && done.timings.first_reasoning <= done.timings.first_byte, JSON.stringify(done.timings));

        const sessionId = first.events[0].session_id;
        const stored = (await s.api('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data[1];
        assert.deepEqual([stored.content, stored.reasoning], [ANSWER, THOUGHT]);

        // The next turn: the stored answer goes back without its reasoning (DeepSeek would answer 400).
        const second = await streamChat(s, id, { message: `And again, ${flavour}?`, session_id: sessionId });
        assert.equal(second.events.at(-1).chunk_type, 'done', JSON.stringify(second.events.at(-1)));
        const upstream = JSON.stringify(chatRequests(`And again, ${flavour}?`)[0]!.body);
        assert.ok(!upstream.includes('reasoning_content') && !upstream.includes('recall the question'), upstream);
        assert.ok(upstream.includes(ANSWER), 'the earlier answer itself is in the history');
      });
    }

    test('DeepSeek refuses reasoning sent back, so the check above can fail', async () => {
      const res = await fetch(`${emu.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk', 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'deepseek-reasoner',
          messages: [
            { role: 'user', content: 'a' },
            { role: 'assistant', content: 'b', reasoning_content: 'c' },
            { role: 'user', content: 'd' },
          ],
        }),
      });
      assert.equal(res.status, 400);
    });

    test('the `delta.reasoning` field (OpenRouter, vLLM) is read too', async () => {
      const id = await agent(flavours.deepseek({ reasoning_field: 'reasoning' }));
      const { events, text } = await streamChat(s, id, { message: 'Other field?' });
      assert.equal(said(events, 'reasoning'), THOUGHT);
      assert.equal(text, ANSWER);
    });

    test('WebSocket: reasoning frames before the content', async () => {
      const id = await agent(flavours.zhipu());
      const events = await new Promise<ChatEventLike[]>((resolve, reject) => {
        const got: ChatEventLike[] = [];
        const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/agents/${id}/chat/ws`, { headers: { authorization: `Bearer ${s.adminKey}` } });
        ws.on('open', () => ws.send(JSON.stringify({ type: 'chat', message: 'Over a socket?' })));
        ws.on('message', (d) => {
          const e = JSON.parse(d.toString()) as ChatEventLike;
          got.push(e);
          if (e.chunk_type === 'done' || e.chunk_type === 'error') {
            ws.close();
            resolve(got);
          }
        });
        ws.on('error', reject);
      });
      assert.equal(said(events, 'reasoning'), THOUGHT);
      assert.equal(said(events, 'content'), ANSWER);
    });

    test('AI SDK UI stream: a reasoning part, then the text part', async () => {
      const id = await agent(flavours.deepseek());
      const res = await fetch(`${s.url}/api/v1/agents/${id}/chat/ui`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'chat-1', messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Through useChat?' }] }] }),
      });
      assert.equal(res.status, 200);
      const message = await readUiMessage(res.body!);
      const parts = (message.parts as Array<{ type: string; text?: string }>).filter((p) => p.type === 'reasoning' || p.type === 'text');
      assert.deepEqual(
        parts.map((p) => [p.type, p.text]),
        [
          ['reasoning', THOUGHT],
          ['text', ANSWER],
        ],
      );
    });

    test('OpenAI-compatible: reasoning_content deltas when streaming, message.reasoning_content when not', async () => {
      const id = await agent(flavours.zhipu());
      const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.adminKey, maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: id, messages: [{ role: 'user', content: 'OpenAI style?' }], stream: true });
      let thought = '';
      let text = '';
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta as { content?: string | null; reasoning_content?: string } | undefined;
        thought += delta?.reasoning_content ?? '';
        text += delta?.content ?? '';
      }
      assert.deepEqual([thought, text], [THOUGHT, ANSWER]);
      const whole = await client.chat.completions.create({ model: id, messages: [{ role: 'user', content: 'OpenAI whole?' }] });
      assert.equal((whole.choices[0]!.message as { content: string | null; reasoning_content?: string }).reasoning_content, THOUGHT);
      assert.equal(whole.choices[0]!.message.content, ANSWER);
    });

    test('llm.thinking is the provider switch: Zhipu and DeepSeek `thinking: {type}`', async () => {
      const off = await agent(flavours.zhipu({}, { thinking: 'disabled' }));
      const quiet = await streamChat(s, off, { message: 'No thinking, Zhipu?' });
      assert.equal(quiet.events.filter((e) => e.chunk_type === 'reasoning').length, 0);
      assert.deepEqual(chatOf(chatRequests('No thinking, Zhipu?')[0]!).thinking, { type: 'disabled' });

      const on = await agent({ ...flavours.deepseek({}, { thinking: 'enabled' }), model: 'deepseek-chat' });
      const loud = await streamChat(s, on, { message: 'Thinking, DeepSeek chat?' });
      assert.ok(loud.events.some((e) => e.chunk_type === 'reasoning'));
      assert.deepEqual(chatOf(chatRequests('Thinking, DeepSeek chat?')[0]!).thinking, { type: 'enabled' });

      const unset = await agent({ provider: 'openai-compatible', model: 'gpt-4o-mini', api_key: 'sk', base_url: `${emu.url}/v1` });
      await streamChat(s, unset, { message: 'No switch?' });
      assert.equal('thinking' in chatOf(chatRequests('No switch?')[0]!), false, 'nothing sent to a provider without the switch');
    });

    test('the first reasoning token is the sign of life for the first-token deadline and the fallback', async () => {
      // Reasoning from 100 ms; the answer's first byte only after ~1 s.
      const slowAnswer = { first_token_ms: 100, tokens_per_s: 15 };
      const deadline = await agent(flavours.zhipu(slowAnswer, { first_token_timeout_ms: 600 }));
      const a = await streamChat(s, deadline, { message: 'Deadline?' });
      assert.equal(a.events.at(-1).chunk_type, 'done', JSON.stringify(a.events.at(-1)));
      assert.ok(a.events.at(-1).timings.first_byte > 600, 'the answer came after the deadline would have struck');
      assert.equal(chatRequests('Deadline?').length, 1, 'no retry');

      const raced = await agent(flavours.zhipu(slowAnswer, { fallback: { model: 'glm-4-flash', after_ms: 500 } }));
      const b = await streamChat(s, raced, { message: 'Fallback?' });
      assert.equal(b.events.at(-1).model, 'glm-4.5', 'the primary kept the answer');
      assert.equal(chatRequests('Fallback?').length, 1, 'the fallback was never started');
    });

    test('extraction asks a Zhipu thinking model to switch thinking off', async () => {
      const id = await agent(flavours.zhipu(), { memory: { extract: true } });
      const { events } = await streamChat(s, id, { message: 'I live in Lisbon.', user_id: 'ada' });
      assert.equal(events.at(-1).chunk_type, 'done');
      let extraction: RecordedRequest | undefined;
      for (let i = 0; i < 100 && !extraction; i++) {
        extraction = emu.requests.find(
          (r) => String(chatOf(r)?.messages?.[0]?.content).startsWith(EXTRACTION_MARKER) && JSON.stringify(r.body).includes('I live in Lisbon.'),
        );
        if (!extraction) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(extraction, 'extraction ran');
      assert.deepEqual(chatOf(extraction).thinking, { type: 'disabled' });
    });
  });
}
