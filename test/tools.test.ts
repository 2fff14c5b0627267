// Tool calling in the streaming path, against the emulator's scripted tool calls:
// a two-step conversation, parallel calls, the memory tools, and every failure mode
// ending in a finished stream with the failure handed to the model as a tool result.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { chatOf, engines, sentWith, streamChat, type MemoryRow, type TestServer, serverAndEmulator } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

interface ToolServer {
  url: string;
  seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string; at: number }>;
  /** /weather requests being answered now, and the most at once */
  weather: { inFlight: number; maxInFlight: number };
  close(): Promise<void>;
}

/** The tools' own backend: /weather answers after 300 ms, /fail is a 500, /hang never answers, /garbage is huge. */
async function toolServer(): Promise<ToolServer> {
  const seen: ToolServer['seen'] = [];
  const weather = { inFlight: 0, maxInFlight: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, at: Date.now() });
      const path = new URL(req.url!, 'http://x').pathname;
      if (path === '/weather') {
        weather.maxInFlight = Math.max(weather.maxInFlight, ++weather.inFlight);
        setTimeout(() => {
          weather.inFlight--;
          res.end(JSON.stringify({ city: new URL(req.url!, 'http://x').searchParams.get('city'), sky: 'sunny' }));
        }, 300);
      } else if (path === '/fail') res.writeHead(500).end('database on fire');
      else if (path === '/garbage') res.end('\u0000\u0001{{{not json'.repeat(5_000));
      // /hang: never answers
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    weather,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

for (const engine of engines) {
  describe(`tools on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let backend: ToolServer;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));
    before(async () => {
      backend = await toolServer();
    });
    after(async () => {
      await backend?.close();
    });

    const tools = () => [
      {
        type: 'http',
        name: 'get_weather',
        description: 'Weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } } },
        url: `${backend.url}/weather`,
        method: 'GET',
        headers: { 'x-api-key': 'tool-secret' },
      },
      { type: 'http', name: 'failing', url: `${backend.url}/fail` },
      { type: 'http', name: 'hanging', url: `${backend.url}/hang`, timeout_ms: 200 },
      { type: 'http', name: 'garbage', url: `${backend.url}/garbage` },
      { type: 'memory_search' },
      { type: 'memory_save' },
    ];
    const agentCalling = async (calls: Array<{ name: string; arguments: object }>, format: 'v1' | 'api/paas/v4' = 'v1', extra: object = {}) =>
      (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'tooled',
            llm: {
              provider: format === 'v1' ? 'openai-compatible' : 'zhipu',
              model: 'm',
              api_key: 'k.s',
              base_url: `${emu.url}${optionPath({ tool_calls: JSON.stringify(calls), text: 'All done.' })}/${format}`,
            },
            tools: tools(),
            ...extra,
          },
        })
      ).body;
    const upstreamFor = (question: string) => sentWith(emu, question);

    test('a two-step tool conversation: tool_call, tool_result, then the answer', async () => {
      const agent = await agentCalling([{ name: 'get_weather', arguments: { city: 'Paris' } }]);
      assert.deepEqual(agent.tools[0].headers, {}, 'the tool secret is not returned');
      const { events, text } = await streamChat(s, agent.id, { message: 'Weather in Paris?' });
      const kinds = events.map((e) => e.chunk_type);
      assert.deepEqual(
        kinds.filter((k) => k !== 'content'),
        ['start', 'tool_call', 'tool_result', 'done'],
      );
      const call = events.find((e) => e.chunk_type === 'tool_call');
      assert.deepEqual([call.step_id, call.name, JSON.parse(call.arguments)], [0, 'get_weather', { city: 'Paris' }]);
      const result = events.find((e) => e.chunk_type === 'tool_result');
      assert.equal(result.call_id, call.call_id);
      assert.deepEqual(JSON.parse(result.output), { city: 'Paris', sky: 'sunny' });
      assert.ok(result.duration_ms >= 290);
      assert.equal(text, 'All done.');
      assert.ok(
        events.filter((e) => e.chunk_type === 'content').every((e) => e.step_id === 1),
        'the answer is step 1',
      );

      const hit = backend.seen.at(-1)!;
      assert.equal(hit.method, 'GET');
      assert.equal(new URL(hit.url, 'http://x').searchParams.get('city'), 'Paris');
      assert.equal(hit.headers['x-api-key'], 'tool-secret', 'the stored secret header is sent to the tool');

      const [first, second] = upstreamFor('Weather in Paris?');
      assert.deepEqual(
        chatOf(first!).tools!.map((t) => t.function.name),
        ['get_weather', 'failing', 'hanging', 'garbage', 'memory_search', 'memory_save'],
      );
      const msgs = chatOf(second!).messages;
      assert.equal(msgs.at(-2)!.role, 'assistant');
      assert.equal(msgs.at(-2)!.tool_calls![0]!.function.name, 'get_weather');
      assert.deepEqual([msgs.at(-1)!.role, msgs.at(-1)!.tool_call_id, JSON.parse(msgs.at(-1)!.content).sky], ['tool', call.call_id, 'sunny']);

      const stored = (await s.api('GET', `/api/v1/sessions/${events[0].session_id}/messages`)).body.data;
      assert.equal(stored[1].content, 'All done.');
      assert.equal(stored[1].tool_calls[0].name, 'get_weather');
      assert.ok(stored[1].tool_calls[0].output.includes('sunny'));
    });

    test('several calls in one step run in parallel', async () => {
      const agent = await agentCalling([
        { name: 'get_weather', arguments: { city: 'Oslo' } },
        { name: 'get_weather', arguments: { city: 'Rome' } },
        { name: 'get_weather', arguments: { city: 'Lima' } },
      ]);
      backend.weather.maxInFlight = 0;
      const started = Date.now();
      const { events } = await streamChat(s, agent.id, { message: 'Three cities?' });
      const results = events.filter((e) => e.chunk_type === 'tool_result');
      assert.deepEqual(
        results.map((r) => JSON.parse(r.output).city),
        ['Oslo', 'Rome', 'Lima'],
      );
      // In parallel: the backend held all three requests at once (no clock involved); the wall time is reported.
      console.log(`# ${engine}: three 300 ms calls in one step took ${Date.now() - started} ms (in sequence: 900+)`);
      assert.equal(backend.weather.maxInFlight, 3, 'the three calls were at the backend together');
      assert.equal(events.at(-1).chunk_type, 'done');
    });

    test('a tool that fails, hangs, answers garbage or does not exist becomes a result the model sees', async () => {
      const agent = await agentCalling([
        { name: 'failing', arguments: {} },
        { name: 'hanging', arguments: {} },
        { name: 'garbage', arguments: {} },
        { name: 'no_such_tool', arguments: {} },
      ]);
      const { events, text } = await streamChat(s, agent.id, { message: 'Break everything' });
      assert.equal(events.at(-1).chunk_type, 'done', JSON.stringify(events.at(-1)));
      assert.equal(text, 'All done.');
      const [failing, hanging, garbage, missing] = events.filter((e) => e.chunk_type === 'tool_result');
      assert.match(failing.error, /HTTP 500: database on fire/);
      assert.match(hanging.error, /did not answer within 200 ms/);
      assert.ok(garbage.output.length < 17_000 && garbage.output.endsWith('characters cut]'), 'garbage is capped');
      assert.match(missing.error, /no tool named "no_such_tool"/);
      const toolMsgs = chatOf(upstreamFor('Break everything')[1]!).messages.filter((m) => m.role === 'tool');
      assert.equal(toolMsgs.length, 4);
      assert.match(toolMsgs[0]!.content, /^Error: HTTP 500/);
    });

    test('the memory tools save and find facts of this user', async () => {
      const saver = await agentCalling([{ name: 'memory_save', arguments: { content: 'Kai drinks green tea' } }]);
      const saved = await streamChat(s, saver.id, { message: 'Remember my tea', user_id: 'kai' });
      assert.match(saved.events.find((e) => e.chunk_type === 'tool_result').output, /"saved"/);
      const listed = (await s.api('GET', `/api/v1/memories?agent_id=${saver.id}&user_id=kai`)).body.data;
      assert.ok(listed.some((m: MemoryRow) => m.content === 'Kai drinks green tea'));

      await s.api('PATCH', `/api/v1/agents/${saver.id}`, {
        body: {
          llm: { base_url: `${emu.url}${optionPath({ tool_calls: JSON.stringify([{ name: 'memory_search', arguments: { query: 'tea' } }]), text: 'ok' })}/v1` },
        },
      });
      const found = await streamChat(s, saver.id, { message: 'What do I drink?', user_id: 'kai' });
      assert.match(found.events.find((e) => e.chunk_type === 'tool_result').output, /green tea/);
      const other = await streamChat(s, saver.id, { message: 'What do I drink?', user_id: 'someone-else' });
      assert.doesNotMatch(other.events.find((e) => e.chunk_type === 'tool_result').output, /green tea/, 'scoped to the user');
    });

    test('Zhipu-format tool calls work the same', async () => {
      const agent = await agentCalling([{ name: 'get_weather', arguments: { city: 'Beijing' } }], 'api/paas/v4');
      const { events, text } = await streamChat(s, agent.id, { message: '北京天气？' });
      assert.equal(JSON.parse(events.find((e) => e.chunk_type === 'tool_result').output).city, 'Beijing');
      assert.equal(text, 'All done.');
    });

    test('max_steps stops a model that keeps asking for tools', async () => {
      const agent = await agentCalling([{ name: 'get_weather', arguments: { city: 'Paris' } }], 'v1', { max_steps: 1 });
      const { events } = await streamChat(s, agent.id, { message: 'Loop?' });
      assert.equal(events.at(-1).chunk_type, 'done');
      assert.equal(events.at(-1).finish_reason, 'tool_calls');
      assert.equal(events.filter((e) => e.chunk_type === 'tool_result').length, 0);
      assert.equal(upstreamFor('Loop?').length, 1);
    });
  });
}
