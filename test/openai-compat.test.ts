// The OpenAI-compatible surface, driven by the official `openai` client, unchanged,
// over a real socket: model = agent id, the client's messages as history, the turn
// stored (x-session-id), errors as the SDK's typed errors. On both engines.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { Emulator } from '../src/emulator/server.ts';
import { chatOf, createOrg, engines, type StoredMessage, type TestServer, serverAndEmulator, emulatorAgent, messagesOf, upstreamFor } from './harness.ts';

const said = 'Hello from the emulator, 世界 😀👍🏽 — with history.';

for (const engine of engines) {
  describe(`OpenAI-compatible API on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let client: OpenAI;
    let agentId: string;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));
    before(async () => {
      client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.adminKey, maxRetries: 0 });
      agentId = (await emuAgent({ text: said }, { system_prompt: 'You are the agent.' })).id;
    });

    const emuAgent = (o: Record<string, string | number>, extra: object = {}) => emulatorAgent(s, emu, o, { name: 'oa', ...extra });

    test('GET /v1/models lists the org’s agents as models; retrieve finds one', async () => {
      const other = await createOrg(s.api, `oa-models-${engine}`);
      const theirs = (await s.api('POST', '/api/v1/agents', { key: other.key, body: { name: 'theirs' } })).body;
      const ids: string[] = [];
      for await (const m of client.models.list()) {
        assert.equal(m.object, 'model');
        assert.equal(typeof m.created, 'number');
        ids.push(m.id);
      }
      assert.ok(ids.includes(agentId));
      assert.ok(!ids.includes(theirs.id), 'another org’s agent is not listed');
      assert.equal((await client.models.retrieve(agentId)).id, agentId);
      await assert.rejects(client.models.retrieve(theirs.id), OpenAI.NotFoundError);
    });

    test('non-streaming create: the answer, usage, finish_reason, and the turn stored', async () => {
      const { data, response } = await client.chat.completions
        .create({ model: agentId, messages: [{ role: 'user', content: 'Say hello.' }], user: 'alice' })
        .withResponse();
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.model, agentId);
      assert.equal(data.choices[0]!.message.role, 'assistant');
      assert.equal(data.choices[0]!.message.content, said);
      assert.equal(data.choices[0]!.finish_reason, 'stop');
      assert.ok(data.usage!.completion_tokens > 0 && data.usage!.total_tokens > 0);
      const sessionId = response.headers.get('x-session-id')!;
      assert.match(sessionId, /^[0-9a-f-]{36}$/);
      assert.equal(data.id, `chatcmpl-${(await messagesOf(s, sessionId))[1].id}`);
      const stored = await messagesOf(s, sessionId);
      assert.deepEqual(
        stored.map((m: StoredMessage) => [m.role, m.status, m.content]),
        [
          ['user', 'complete', 'Say hello.'],
          ['assistant', 'complete', said],
        ],
      );
      const sessions = (await s.api('GET', `/api/v1/agents/${agentId}/sessions?user_id=alice`)).body.data;
      assert.ok(
        sessions.some((x: { id: string }) => x.id === sessionId),
        '`user` names the session’s (and memory’s) owner',
      );
    });

    test('streaming create with include_usage: text deltas reassemble, a usage chunk comes last', async () => {
      const { data: stream, response } = await client.chat.completions
        .create({ model: agentId, messages: [{ role: 'user', content: 'Stream it.' }], stream: true, stream_options: { include_usage: true } })
        .withResponse();
      assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
      const sessionId = response.headers.get('x-session-id')!;
      assert.match(sessionId, /^[0-9a-f-]{36}$/);
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
      assert.equal(text, said);
      assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
      assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === agentId && c.id === chunks[0]!.id));
      const finish = chunks.find((c) => c.choices[0]?.finish_reason);
      assert.equal(finish!.choices[0]!.finish_reason, 'stop');
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.ok(last.usage!.prompt_tokens > 0 && last.usage!.completion_tokens > 0);
      assert.ok(
        chunks.slice(0, -1).every((c) => c.usage === null),
        'the other chunks carry usage: null',
      );
      assert.equal((await messagesOf(s, sessionId))[1].content, said);
    });

    test('streaming without include_usage sends no usage chunk; the SDK’s helpers work', async () => {
      const stream = await client.chat.completions.create({ model: agentId, messages: [{ role: 'user', content: 'x' }], stream: true });
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.ok(chunks.every((c) => c.choices.length === 1 && c.usage === undefined));
      const runner = client.chat.completions.stream({ model: agentId, messages: [{ role: 'user', content: 'y' }] });
      const final = await runner.finalChatCompletion();
      assert.equal(final.choices[0]!.message.content, said);
    });

    test('the client’s earlier messages are the turn’s history, its system prompt after the agent’s; x-session-id continues a session', async () => {
      const { data, response } = await client.chat.completions
        .create({
          model: agentId,
          messages: [
            { role: 'system', content: 'client system prompt' },
            { role: 'user', content: 'My name is Ada.' },
            { role: 'assistant', content: 'Noted.' },
            { role: 'user', content: [{ type: 'text', text: 'What is my name?' }] },
          ],
        })
        .withResponse();
      assert.equal(data.choices[0]!.message.content, said);
      const msgs = chatOf(upstreamFor(emu, 'What is my name?')).messages;
      assert.deepEqual(
        msgs.map((m) => [m.role, m.content]),
        [
          ['system', 'You are the agent.'],
          ['system', 'client system prompt'],
          ['user', 'My name is Ada.'],
          ['assistant', 'Noted.'],
          ['user', 'What is my name?'],
        ],
      );
      const sessionId = response.headers.get('x-session-id')!;
      assert.equal((await messagesOf(s, sessionId)).length, 2, 'only this turn is stored');

      // A lone user message in a known session: the stored window is the history.
      const again = await client.chat.completions
        .create({ model: agentId, messages: [{ role: 'user', content: 'And again?' }] }, { headers: { 'x-session-id': sessionId } })
        .withResponse();
      assert.equal(again.response.headers.get('x-session-id'), sessionId);
      assert.deepEqual(
        chatOf(upstreamFor(emu, 'And again?')).messages.map((m) => m.content),
        ['You are the agent.', 'What is my name?', said, 'And again?'],
      );
      assert.equal((await messagesOf(s, sessionId)).length, 4);
    });

    test('errors surface as the SDK’s typed errors, in OpenAI’s shape', async () => {
      const badKey = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'am_wrong', maxRetries: 0 });
      await assert.rejects(badKey.chat.completions.create({ model: agentId, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.AuthenticationError);
        assert.equal(err.status, 401);
        assert.equal(err.code, 'invalid_api_key');
        assert.equal(err.type, 'authentication_error');
        return true;
      });
      await assert.rejects(badKey.models.list(), OpenAI.AuthenticationError);

      await assert.rejects(client.chat.completions.create({ model: 'no-such-agent', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.NotFoundError);
        assert.equal(err.code, 'model_not_found');
        assert.equal(err.param, 'model');
        return true;
      });
      const other = await createOrg(s.api, `oa-errors-${engine}`);
      const theirs = (await s.api('POST', '/api/v1/agents', { key: other.key, body: { name: 'theirs' } })).body;
      await assert.rejects(client.chat.completions.create({ model: theirs.id, messages: [{ role: 'user', content: 'hi' }] }), OpenAI.NotFoundError);
      await assert.rejects(
        client.chat.completions.create({ model: theirs.id, messages: [{ role: 'user', content: 'hi' }], stream: true }),
        OpenAI.NotFoundError,
      );

      await assert.rejects(client.chat.completions.create({ model: agentId, messages: [] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.equal(err.type, 'invalid_request_error');
        assert.equal(err.param, 'messages');
        return true;
      });
      await assert.rejects(
        client.chat.completions.create({
          model: agentId,
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: 'last' },
          ],
        }),
        (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'messages',
      );
      await assert.rejects(
        client.chat.completions.create(
          { model: agentId, messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-session-id': '00000000-0000-4000-8000-000000000000' } },
        ),
        OpenAI.NotFoundError,
      );

      // The raw shape, for clients that are not the SDK.
      const raw = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(raw.status, 401);
      const body = (await raw.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      const invalid = await s.api('POST', '/v1/chat/completions', { body: { model: agentId, messages: [{ role: 'robot', content: 'x' }] } });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.error.type, 'invalid_request_error');
      assert.equal(invalid.body.error.param, 'messages.0.role');
    });

    test('an upstream failure: a 502 APIError without streaming, an APIError thrown mid-stream', async () => {
      const failing = await emuAgent({ fault: '401' });
      await assert.rejects(client.chat.completions.create({ model: failing.id, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.InternalServerError);
        assert.equal(err.status, 502);
        assert.equal(err.code, 'upstream_auth');
        return true;
      });
      const stream = await client.chat.completions.create({ model: failing.id, messages: [{ role: 'user', content: 'hi' }], stream: true });
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        (err: unknown) => err instanceof OpenAI.APIError && err.code === 'upstream_auth',
      );
    });
  });
}
