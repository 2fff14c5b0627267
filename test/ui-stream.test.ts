// The AI SDK UI message stream (v1) at /agents/:id/chat/ui, read with the AI SDK's
// own pieces: DefaultChatTransport sends exactly what useChat sends and validates every
// part against uiMessageChunkSchema; readUIMessageStream assembles the message.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import type { AgentEvent } from '../src/agent/events.ts';
import { uiStreamParts } from '../src/server/encoders/ui-stream.ts';
import type { Emulator } from '../src/emulator/server.ts';
import { chatOf, createOrg, engines, type StoredMessage, type TestServer, serverAndEmulator, emulatorAgent, messagesOf, upstreamFor } from './harness.ts';

/** A part of an assembled UI message: the SDK's union of part types, flattened to the fields these checks read. */
interface UiPart {
  type: string;
  text?: string;
  toolCallId?: string;
  toolName?: string;
  state?: string;
  input?: unknown;
  output?: unknown;
  errorText?: string;
  data?: unknown;
}

/** The message metadata agentmem's UI stream sends (the fields these tests read). */
interface UiMetadata {
  session_id: string;
  usage: { total_tokens: number };
}
import { readUiMessage } from './ui-message.ts';

const said = 'UI stream says: 你好, 世界 😀👨‍👩‍👧‍👦 — done.';

const userMessage = (id: string, text: string): UIMessage => ({ id, role: 'user', parts: [{ type: 'text', text }] });

test('the encoder’s tool and memory parts pass the AI SDK’s schema and assemble into a message', async () => {
  const timings = { total: 1 };
  const events: AgentEvent[] = [
    { chunk_type: 'start', session_id: 's', message_id: 'm', user_message_id: 'u', agent_id: 'a' },
    { chunk_type: 'content', content: 'Let me look. ', step_id: 0 },
    { chunk_type: 'tool_call', step_id: 0, call_id: 'c1', name: 'lookup', arguments: '{"q":"x"}' },
    { chunk_type: 'tool_result', step_id: 0, call_id: 'c1', name: 'lookup', output: 'found', duration_ms: 3 },
    { chunk_type: 'tool_call', step_id: 0, call_id: 'c2', name: 'broken', arguments: 'not json' },
    { chunk_type: 'tool_result', step_id: 0, call_id: 'c2', name: 'broken', error: 'boom', duration_ms: 1 },
    { chunk_type: 'content', content: 'Done.', step_id: 1 },
    { chunk_type: 'memory_update', event: 'ADD', memory_id: 'mem1', content: 'likes tea' },
    { chunk_type: 'done', session_id: 's', message_id: 'm', finish_reason: 'stop', usage: null, timings, model: 'x' },
  ];
  const encode = uiStreamParts();
  const sse =
    events
      .flatMap(encode)
      .map((p) => `data: ${JSON.stringify(p)}\n\n`)
      .join('') + 'data: [DONE]\n\n';
  const bytes = new Response(sse).body!;
  const message = await readUiMessage(bytes);
  const parts = message.parts as UiPart[];
  assert.equal(message.id, 'm');
  assert.deepEqual(
    parts.filter((p) => p.type === 'text').map((p) => p.text),
    ['Let me look. ', 'Done.'],
  );
  assert.deepEqual(
    parts.map((p) => p.type).filter((t) => t === 'step-start' || t === 'text' || t === 'dynamic-tool'),
    ['step-start', 'text', 'dynamic-tool', 'dynamic-tool', 'step-start', 'text'],
  );
  const tools = parts.filter((p) => p.type === 'dynamic-tool');
  assert.deepEqual(
    tools.map((t) => [t.toolCallId, t.toolName, t.state]),
    [
      ['c1', 'lookup', 'output-available'],
      ['c2', 'broken', 'output-error'],
    ],
  );
  assert.deepEqual(tools[0]!.input, { q: 'x' });
  assert.equal(tools[0]!.output, 'found');
  assert.equal(tools[1]!.input, 'not json');
  assert.equal(tools[1]!.errorText, 'boom');
  assert.deepEqual(parts.find((p) => p.type === 'data-memory')!.data, { event: 'ADD', memory_id: 'mem1', content: 'likes tea' });
});

for (const engine of engines) {
  describe(`AI SDK UI message stream on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let agentId: string;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));
    before(async () => {
      agentId = (await emuAgent({ text: said, tokens_per_s: 200 }, { system_prompt: 'sys', streaming: { text_buffer_size: 4, emit_metadata: true } })).id;
    });

    const emuAgent = (o: Record<string, string | number>, extra: object = {}) => emulatorAgent(s, emu, o, { name: 'ui', ...extra });

    /** One useChat request through the AI SDK's transport; the parts it parsed and the message it assembled. */
    async function chat(id: string, chatId: string, messages: UIMessage[], body: object = {}) {
      let response: Response | undefined;
      const transport = new DefaultChatTransport<UIMessage>({
        api: `${s.url}/api/v1/agents/${id}/chat/ui`,
        headers: { authorization: `Bearer ${s.adminKey}` },
        body,
        fetch: async (input, init) => (response = await fetch(input, init)),
      });
      const stream = await transport.sendMessages({ chatId, messages, trigger: 'submit-message', messageId: undefined, abortSignal: undefined });
      const [forParts, forMessage] = stream.tee();
      const chunks: UIMessageChunk[] = [];
      const errors: string[] = [];
      let message: UIMessage | undefined;
      await Promise.all([
        (async () => {
          for await (const c of forParts as unknown as AsyncIterable<UIMessageChunk>) chunks.push(c);
        })(),
        (async () => {
          for await (const m of readUIMessageStream({ stream: forMessage, onError: (e) => errors.push((e as Error).message) })) message = m;
        })(),
      ]);
      const text = message!.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
      return { response: response!, chunks, message: message!, text, errors, metadata: message!.metadata as UiMetadata };
    }

    test('a useChat request streams the v1 protocol; the assembled message is what the model said', async () => {
      const { response, chunks, message, text, metadata } = await chat(agentId, 'chat-one', [userMessage('u1', 'Hello?')]);
      assert.equal(response.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
      assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
      assert.equal(text, said);
      const types = chunks.map((c) => c.type);
      assert.deepEqual(types.slice(0, 2), ['start', 'start-step']);
      assert.deepEqual(types.slice(-3), ['data-timings', 'finish-step', 'finish']);
      assert.ok(types.includes('data-metadata'), 'emit_metadata → a data-metadata part');
      const deltas = chunks.filter((c) => c.type === 'text-delta');
      assert.ok(deltas.length > 1);
      const start = chunks.find((c) => c.type === 'text-start') as { id: string };
      const end = chunks.find((c) => c.type === 'text-end') as { id: string };
      assert.ok(deltas.every((d) => d.id === start.id) && end.id === start.id, 'one text block, one id');
      const finish = chunks.at(-1) as Extract<UIMessageChunk, { type: 'finish' }>;
      assert.equal(finish.finishReason, 'stop');
      assert.ok((finish.messageMetadata as UiMetadata).usage.total_tokens > 0);

      assert.equal(message.role, 'assistant');
      assert.equal(message.id, (chunks[0] as { messageId: string }).messageId);
      assert.match(metadata.session_id, /^[0-9a-f-]{36}$/);
      assert.equal(response.headers.get('x-session-id'), metadata.session_id);
      const timings = message.parts.find((p) => p.type === 'data-timings') as { data: Record<string, number> };
      assert.equal(typeof timings.data.total, 'number');
      const stored = await messagesOf(s, metadata.session_id);
      assert.deepEqual(
        stored.map((m: StoredMessage) => [m.role, m.status, m.content]),
        [
          ['user', 'complete', 'Hello?'],
          ['assistant', 'complete', said],
        ],
      );
      assert.equal(stored[1].id, message.id);

      const raw = await fetch(`${s.url}/api/v1/agents/${agentId}/chat/ui`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'raw', messages: [userMessage('u1', 'hi')] }),
      });
      assert.ok((await raw.text()).endsWith('data: [DONE]\n\n'), 'the stream ends with data: [DONE]');
    });

    test('one chat id is one session; the client’s messages are the history; session_id overrides', async () => {
      const first = await chat(agentId, 'chat-two', [userMessage('u1', 'My name is Ada.')], { user_id: 'ada' });
      const sessionId = first.metadata.session_id;
      const second = await chat(agentId, 'chat-two', [userMessage('u1', 'My name is Ada.'), first.message, userMessage('u2', 'Who am I?')], { user_id: 'ada' });
      assert.equal(second.metadata.session_id, sessionId, 'the same chat id continues its session');
      assert.deepEqual(
        chatOf(upstreamFor(emu, 'Who am I?')).messages.map((m) => [m.role, m.content]),
        [
          ['system', 'sys'],
          ['user', 'My name is Ada.'],
          ['assistant', said],
          ['user', 'Who am I?'],
        ],
      );
      assert.equal((await messagesOf(s, sessionId)).length, 4);
      const sessions = (await s.api('GET', `/api/v1/agents/${agentId}/sessions?user_id=ada`)).body.data;
      assert.deepEqual(
        sessions.map((x: { id: string }) => x.id),
        [sessionId],
      );

      const other = await chat(agentId, 'chat-three', [userMessage('u1', 'hi')]);
      assert.notEqual(other.metadata.session_id, sessionId, 'another chat id, another session');
      const explicit = await chat(agentId, 'chat-three', [userMessage('u9', 'hi again')], { session_id: sessionId, user_id: 'ada' });
      assert.equal(explicit.metadata.session_id, sessionId);
      assert.equal((await messagesOf(s, sessionId)).length, 6);
    });

    test('an upstream failure is an error part (errorText) with a data-error part, and the stream still finishes', async () => {
      const failing = await emuAgent({ fault: 'disconnect_mid', text: 'one two three four five six seven eight nine ten' });
      const { chunks, errors, message, text } = await chat(failing.id, 'chat-fail', [userMessage('u1', 'hi')]);
      assert.equal(errors.length, 1);
      const error = chunks.find((c) => c.type === 'error') as { errorText: string };
      assert.equal(errors[0], error.errorText);
      const data = message.parts.find((p) => p.type === 'data-error') as { data: { code: string; retryable: boolean } };
      assert.equal(data.data.code, 'upstream_network');
      assert.deepEqual(
        chunks.slice(-2).map((c) => c.type),
        ['finish-step', 'finish'],
      );
      assert.equal((chunks.at(-1) as { finishReason: string }).finishReason, 'error');
      const stored = await messagesOf(s, (message.metadata as UiMetadata).session_id);
      assert.equal(stored[1].status, 'incomplete');
      assert.equal(stored[1].content, text, 'what was already said stays stored');
    });

    test('bad input and other orgs get 4xx JSON before any stream starts', async () => {
      const other = await createOrg(s.api, `ui-other-${engine}`);
      const post = (body: unknown, key = s.adminKey, id = agentId) => s.api('POST', `/api/v1/agents/${id}/chat/ui`, { key, body });
      const ok = { id: 'c', messages: [userMessage('u1', 'hi')] };
      assert.equal((await post(ok, other.key)).status, 404, 'another org’s agent');
      assert.equal((await post(ok, s.adminKey, 'nope')).status, 404);
      assert.equal((await post(ok, 'am_wrong')).status, 401);
      assert.equal((await post({ id: 'c', messages: [] })).status, 400);
      assert.equal((await post({ id: 'c' })).status, 400);
      assert.equal((await post({ id: 'c', messages: [{ id: 'm', role: 'user' }] })).status, 400, 'a message without parts');
      const last = await post({ id: 'c', messages: [userMessage('u1', 'hi'), { id: 'a', role: 'assistant', parts: [{ type: 'text', text: 'x' }] }] });
      assert.equal(last.status, 400);
      assert.equal(last.body.error.code, 'validation_error');
      assert.equal((await post({ ...ok, session_id: '00000000-0000-4000-8000-000000000000' })).status, 404);
      const transport = new DefaultChatTransport({ api: `${s.url}/api/v1/agents/${agentId}/chat/ui`, headers: { authorization: 'Bearer am_wrong' } });
      await assert.rejects(
        transport.sendMessages({ chatId: 'c', messages: [userMessage('u1', 'hi')], trigger: 'submit-message', messageId: undefined, abortSignal: undefined }),
        /unauthorized/,
      );
    });
  });
}
