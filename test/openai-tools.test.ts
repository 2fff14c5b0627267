// The OpenAI-compatible route drops nothing silently, driven by the official `openai`
// client: a client-side tool round trip (the model's call comes back as `tool_calls`, the
// client runs it and sends the result), streaming and not; the agent's own tools reported
// in the `agentmem` extension; sampling settings passed upstream; timings returned;
// unsupported fields answered 400 naming the field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startEmulator } from '../src/emulator/server.ts';
import { chatOf, engines, sentWith, startServer, type TestServer } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

/** agentmem's extension of an OpenAI answer or chunk (`agentmem`): the session, the timings, its own tool calls. */
interface Extension {
  session_id: string;
  timings: { total: number; upstream_ttfb: number };
  tool_calls: Array<{ name: string; output: string }>;
}
type WithExtension<T> = T & { agentmem?: Extension };

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

const clockTool: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'The time in a time zone',
    parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] },
  },
};

for (const engine of engines) {
  describe(`OpenAI-compatible route with client tools on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let client: OpenAI;
    before(async () => {
      [s, emu] = await Promise.all([startServer(engine), startEmulator({ port: 0, profile: 'instant' })]);
      client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.adminKey, maxRetries: 0 });
    });
    after(async () => {
      await s?.close();
      await emu?.close();
    });

    async function agent(calls: Array<{ name: string; arguments: object }>, extra: object = {}) {
      const base = `${emu.url}${optionPath({ tool_calls: JSON.stringify(calls), text: 'It is noon in UTC.' })}/v1`;
      const res = await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'oa-tools',
          system_prompt: 'You are the agent.',
          llm: { provider: 'openai-compatible', model: 'gpt-emu', base_url: base, api_key: 'sk', max_retries: 0 },
          memory: { extract: false },
          ...extra,
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    }
    const upstream = (question: string) => sentWith(emu, question, 'user').map((r) => chatOf(r));

    test('a client-side tool round trip without streaming: tool_calls out, the result in, the answer', async () => {
      const model = await agent([{ name: 'get_time', arguments: { tz: 'UTC' } }]);
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What time is it?' }];
      const first = await client.chat.completions.create({ model, messages, tools: [clockTool] });
      const choice = first.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert.equal(call.function.name, 'get_time');
      assert.deepEqual(JSON.parse(call.function.arguments), { tz: 'UTC' });
      const offered = upstream('What time is it?')[0]!.tools!.map((t) => t.function);
      assert.deepEqual(offered, [clockTool.function], 'the client’s tool, schema and all, offered to the model');

      // The client runs the tool and sends the result.
      messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '12:00' });
      const second = await client.chat.completions.create({ model, messages, tools: [clockTool] });
      assert.equal(second.choices[0]!.finish_reason, 'stop');
      assert.equal(second.choices[0]!.message.content, 'It is noon in UTC.');
      const sent = upstream('What time is it?')[1]!.messages;
      assert.deepEqual(
        sent.slice(-3).map((m) => m.role),
        ['user', 'assistant', 'tool'],
      );
      assert.equal(sent.at(-2)!.tool_calls![0]!.id, call.id);
      assert.deepEqual([sent.at(-1)!.tool_call_id, sent.at(-1)!.content], [call.id, '12:00']);
    });

    test('the same round trip streaming: tool_call deltas, finish_reason tool_calls, timings in the extension', async () => {
      const model = await agent([{ name: 'get_time', arguments: { tz: 'Asia/Shanghai' } }]);
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Time in Shanghai?' }];
      const stream = await client.chat.completions.create({ model, messages, tools: [clockTool], stream: true });
      const calls: Array<{ id: string; name: string; arguments: string }> = [];
      let finish: string | null = null;
      let extension: Extension | undefined;
      for await (const chunk of stream) {
        for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
          calls[d.index] ??= { id: '', name: '', arguments: '' };
          calls[d.index]!.id += d.id ?? '';
          calls[d.index]!.name += d.function?.name ?? '';
          calls[d.index]!.arguments += d.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
        extension = (chunk as WithExtension<typeof chunk>).agentmem ?? extension;
      }
      assert.equal(finish, 'tool_calls');
      assert.equal(calls.length, 1);
      assert.deepEqual([calls[0]!.name, JSON.parse(calls[0]!.arguments)], ['get_time', { tz: 'Asia/Shanghai' }]);
      assert.ok(extension!.timings.total > 0 && extension!.session_id, JSON.stringify(extension));

      messages.push({
        role: 'assistant',
        content: null,
        tool_calls: [{ id: calls[0]!.id, type: 'function', function: { name: 'get_time', arguments: calls[0]!.arguments } }],
      });
      messages.push({ role: 'tool', tool_call_id: calls[0]!.id, content: '20:00' });
      const final = await client.chat.completions.stream({ model, messages, tools: [clockTool] }).finalChatCompletion();
      assert.equal(final.choices[0]!.message.content, 'It is noon in UTC.');
    });

    test('the agent’s own tools run inside and are reported in `agentmem.tool_calls`; the client’s come back', async () => {
      const model = await agent(
        [
          { name: 'memory_search', arguments: { query: 'time zone' } },
          { name: 'get_time', arguments: { tz: 'UTC' } },
        ],
        { tools: [{ type: 'memory_search' }] },
      );
      const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'Both kinds?' }], tools: [clockTool], user: 'ada' })
        .withResponse();
      assert.deepEqual(
        data.choices[0]!.message.tool_calls!.map((c) => (c as OpenAI.ChatCompletionMessageFunctionToolCall).function.name),
        ['get_time'],
        'only the client’s tool comes back',
      );
      const ext = (data as WithExtension<typeof data>).agentmem!;
      assert.deepEqual(
        ext.tool_calls.map((c) => c.name),
        ['memory_search'],
      );
      assert.equal(typeof ext.tool_calls[0]!.output, 'string', 'with its result');
      assert.ok(ext.timings.upstream_ttfb >= 0);
      assert.ok(JSON.parse(response.headers.get('x-agentmem-timings')!).total > 0);
      const conflict = client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ type: 'function', function: { name: 'memory_search' } }],
      });
      await assert.rejects(conflict, (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'tools.0.function.name');
    });

    test('temperature, top_p, max_completion_tokens, stop and seed reach the model', async () => {
      const model = await agent([]);
      // the agent lets clients choose temperature and top_p (anywhere in their ranges: `{}`)
      const allowed = await s.api('PATCH', `/api/v1/agents/${model}`, { body: { llm: { client_overrides: { temperature: {}, top_p: {} } } } });
      assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
      await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Settings?' }],
        temperature: 0.3,
        top_p: 0.9,
        max_completion_tokens: 77,
        stop: ['END'],
        seed: 42,
      });
      const body = upstream('Settings?')[0]!;
      assert.deepEqual([body.temperature, body.top_p, body.max_tokens, body.stop, body.seed], [0.3, 0.9, 77, ['END'], 42]);
      await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Old name?' }], max_tokens: 12 });
      assert.equal(upstream('Old name?')[0]!.max_tokens, 12);
    });

    test('unsupported fields are a 400 naming the field, never ignored', async () => {
      const model = await agent([]);
      const user = [{ role: 'user' as const, content: 'hi' }];
      const cases: Array<[string, Record<string, unknown>]> = [
        ['n', { n: 2 }],
        ['logprobs', { logprobs: true }],
        ['top_logprobs', { top_logprobs: 3 }],
        ['response_format', { response_format: { type: 'json_object' } }],
        ['tool_choice', { tool_choice: 'required', tools: [clockTool] }],
        [
          'messages.0.content.1.type',
          {
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'text', text: 'look' },
                  { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
                ],
              },
            ],
          },
        ],
        ['frequency_penalty', { frequency_penalty: 0.5 }],
      ];
      for (const [param, extra] of cases) {
        // the cases are fields the API refuses: sent as they are, past the SDK's types
        await assert.rejects(
          client.chat.completions.create({ model, messages: user, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming),
          (e: unknown) => {
            assert.ok(e instanceof OpenAI.BadRequestError, `${param}: ${e}`);
            assert.equal(e.param, param);
            assert.ok(e.message.includes(param), e.message);
            return true;
          },
        );
      }
      const raw = await s.api('POST', '/v1/chat/completions', { body: { model, messages: user, made_up_field: 1 } });
      assert.equal(raw.status, 400);
      assert.equal(raw.body.error.param, 'made_up_field');
    });
  });
}
