// The emulator's Anthropic Messages API over real HTTP: the event stream, tool use,
// thinking, the checks the real API makes, faults in its error shapes, and the prompt
// cache by Anthropic's rules (only prefixes ending at a cache_control breakpoint).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { createAnthropicCache, type PromptBlock } from './anthropic-cache.ts';
import { optionPath } from './options.ts';
import { startEmulator, type Emulator } from './server.ts';

const KEY = 'sk-ant-emulator-key';
const MSG = '/v1/messages';
let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0, profile: 'instant', anthropicKeys: [KEY, 'sk-ant-other'] });
});
after(() => emu.close());

const base = (content = 'hello there') => ({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content }] });

function post(path: string, body: unknown, headers: Record<string, string | undefined> = {}) {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  for (const [k, v] of Object.entries({ 'x-api-key': KEY, 'anthropic-version': '2023-06-01', ...headers })) if (v !== undefined) h[k] = v;
  return fetch(emu.url + path, { method: 'POST', headers: h, body: JSON.stringify(body) });
}

interface Usage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
}

/** A non-streamed answer. */
interface Message {
  type: string;
  content: Array<{ type: string; text: string }>;
  stop_reason: string | null;
  usage: Usage;
}

interface ErrorBody {
  type: string;
  error: { type: string; message: string };
}

/** A streamed event's data: Anthropic's event union flattened to the fields these tests read (each there on the events that carry it). */
interface EventData {
  type: string;
  index: number;
  message: { id: string; role: string; model: string; content: unknown[]; stop_reason: string | null; usage: Usage };
  content_block: { type: string; text?: string; id: string; name: string };
  delta: { type?: string; text?: string; partial_json: string; thinking: string; stop_reason: string };
  usage: { output_tokens: number };
  error: { type: string; message: string };
}

/** Every event: its SSE name and its data; the error that ended the body, if any. */
async function events(res: Response): Promise<{ list: Array<{ event?: string; data: EventData }>; broken?: unknown }> {
  const list: Array<{ event?: string; data: EventData }> = [];
  const stream = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  try {
    for await (const e of stream) list.push({ event: e.event, data: JSON.parse(e.data) as EventData });
  } catch (broken) {
    return { list, broken };
  }
  return { list };
}
const types = (list: Array<{ data: EventData }>) => list.map((e) => e.data.type);
const textOf = (list: Array<{ data: EventData }>) => list.map((e) => (e.data.delta?.type === 'text_delta' ? e.data.delta.text : '')).join('');

describe('Anthropic format', () => {
  test('stream: message_start with usage, ping, one text block, message_delta end_turn, message_stop; event names match data.type', async () => {
    const res = await post(optionPath({ text: 'Hello, 世界! 😀 done.' }) + MSG, { ...base(), stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    assert.match(res.headers.get('request-id')!, /^req_/);
    const { list } = await events(res);
    for (const e of list) assert.equal(e.event, e.data.type);
    const t = types(list);
    assert.deepEqual(t.slice(0, 3), ['message_start', 'ping', 'content_block_start']);
    assert.deepEqual(t.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    assert.ok(t.slice(3, -3).every((x) => x === 'content_block_delta'));
    const start = list[0]!.data.message;
    assert.match(start.id, /^msg_01/);
    assert.deepEqual([start.role, start.model, start.content, start.stop_reason], ['assistant', 'claude-sonnet-4-5', [], null]);
    assert.deepEqual(Object.keys(start.usage).slice(0, 4), ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens']);
    assert.ok(start.usage.input_tokens > 0);
    assert.deepEqual(list[2]!.data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    assert.equal(textOf(list), 'Hello, 世界! 😀 done.');
    const delta = list.at(-2)!.data;
    assert.deepEqual(delta.delta, { stop_reason: 'end_turn', stop_sequence: null });
    assert.ok(delta.usage.output_tokens > 1);
  });

  test('an answer longer than max_tokens stops there: stop_reason max_tokens', async () => {
    const { list } = await events(await post(optionPath({ text: 'one two three four five six' }) + MSG, { ...base(), max_tokens: 3, stream: true }));
    assert.equal(textOf(list), 'one two three ');
    assert.deepEqual(list.at(-2)!.data, { type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 3 } });
    const whole = (await (await post(optionPath({ text: 'one two three four five six' }) + MSG, { ...base(), max_tokens: 2 })).json()) as Message;
    assert.deepEqual([whole.content[0]!.text, whole.stop_reason], ['one two ', 'max_tokens']);
  });

  test('non-stream: a message with content blocks and usage', async () => {
    const res = await post(MSG, base('say it'));
    const m = (await res.json()) as Message;
    assert.equal(m.type, 'message');
    assert.deepEqual(m.content, [{ type: 'text', text: 'Echo: say it' }]);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.cache_read_input_tokens, 0);
  });

  test('checks: x-api-key, anthropic-version, model, max_tokens, roles, at most 4 breakpoints', async () => {
    const cases: Array<[Record<string, string | undefined>, unknown, number, string, RegExp]> = [
      [{ 'x-api-key': undefined }, base(), 401, 'authentication_error', /x-api-key header is required/],
      [{ 'x-api-key': 'sk-ant-wrong' }, base(), 401, 'authentication_error', /invalid x-api-key/],
      [{ authorization: `Bearer ${KEY}`, 'x-api-key': undefined }, base(), 401, 'authentication_error', /x-api-key/],
      [{ 'anthropic-version': undefined }, base(), 400, 'invalid_request_error', /anthropic-version/],
      [{}, { ...base(), max_tokens: undefined }, 400, 'invalid_request_error', /max_tokens: Field required/],
      [{}, { ...base(), model: undefined }, 400, 'invalid_request_error', /model: Field required/],
      [{}, { ...base(), messages: [{ role: 'system', content: 'x' }] }, 400, 'invalid_request_error', /role/],
      [{}, { ...base(), messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }, 400, 'invalid_request_error', /non-empty/],
      [
        {},
        {
          ...base(),
          messages: [{ role: 'user', content: Array.from({ length: 5 }, () => ({ type: 'text', text: 'x', cache_control: { type: 'ephemeral' } })) }],
        },
        400,
        'invalid_request_error',
        /maximum of 4 blocks with cache_control.*Found 5/,
      ],
    ];
    for (const [headers, body, status, type, message] of cases) {
      const res = await post(MSG, body, headers);
      assert.equal(res.status, status, JSON.stringify(headers));
      const e = (await res.json()) as ErrorBody;
      assert.equal(e.type, 'error');
      assert.equal(e.error.type, type);
      assert.match(e.error.message, message);
    }
  });

  test('tool use: tool_use blocks with toolu_ ids, input in input_json_delta pieces, stop_reason tool_use; after tool_result the answer is text', async () => {
    const calls = JSON.stringify([
      { name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius' } },
      { name: 'get_time', arguments: {} },
    ]);
    const tools = [{ name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
    const res = await post(optionPath({ tool_calls: calls }) + MSG, { ...base('weather?'), tools, stream: true });
    const { list } = await events(res);
    const starts = list.filter((e) => e.data.type === 'content_block_start').map((e) => e.data);
    assert.deepEqual(
      starts.map((s) => [s.index, s.content_block.type, s.content_block.name]),
      [
        [0, 'tool_use', 'get_weather'],
        [1, 'tool_use', 'get_time'],
      ],
    );
    assert.match(starts[0]!.content_block.id, /^toolu_01/);
    const json = (i: number) =>
      list
        .filter((e) => e.data.index === i && e.data.delta?.type === 'input_json_delta')
        .map((e) => e.data.delta.partial_json)
        .join('');
    assert.deepEqual(JSON.parse(json(0)), { city: 'Paris', unit: 'celsius' });
    assert.deepEqual(JSON.parse(json(1)), {});
    assert.equal(list.filter((e) => e.data.type === 'content_block_stop').length, 2);
    assert.equal(list.at(-2)!.data.delta.stop_reason, 'tool_use');

    const id = starts[0]!.content_block.id;
    const next = await post(optionPath({ tool_calls: calls }) + MSG, {
      ...base(),
      tools,
      stream: true,
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: [{ type: 'tool_use', id, name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: '18°C, cloudy' }] },
      ],
    });
    const after = await events(next);
    assert.equal(textOf(after.list), 'Tool said: 18°C, cloudy');
    assert.equal(after.list.at(-2)!.data.delta.stop_reason, 'end_turn');
  });

  test('thinking enabled: a thinking block (thinking_delta, then signature_delta) before the text block', async () => {
    const res = await post(optionPath({ text: 'Answer.' }) + MSG, {
      ...base('think'),
      max_tokens: 4096,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      stream: true,
    });
    const { list } = await events(res);
    const blocks = list.filter((e) => e.data.type === 'content_block_start').map((e) => [e.data.index, e.data.content_block.type]);
    assert.deepEqual(blocks, [
      [0, 'thinking'],
      [1, 'text'],
    ]);
    const thinking = list.filter((e) => e.data.delta?.type === 'thinking_delta').map((e) => e.data.delta.thinking);
    assert.match(thinking.join(''), /The user wrote "think"/);
    const sig = list.findIndex((e) => e.data.delta?.type === 'signature_delta');
    assert.ok(sig > 0 && list[sig + 1]!.data.type === 'content_block_stop' && list[sig + 1]!.data.index === 0);
    assert.equal(textOf(list), 'Answer.');
    // no thinking without asking
    const plain = await events(await post(MSG, { ...base(), stream: true }));
    assert.ok(!plain.list.some((e) => e.data.content_block?.type === 'thinking'));
  });

  test('faults in Anthropic shapes: 529 overloaded, 429 with retry-after, 500 api_error, an error event, a refusal', async () => {
    const http: Array<[string, number, string]> = [
      ['503', 529, 'overloaded_error'],
      ['429', 429, 'rate_limit_error'],
      ['500', 500, 'api_error'],
      ['401', 401, 'authentication_error'],
    ];
    for (const [fault, status, type] of http) {
      const res = await post(optionPath({ fault }) + MSG, { ...base(), stream: true });
      assert.equal(res.status, status);
      if (status === 429) assert.equal(res.headers.get('retry-after'), '1');
      const e = (await res.json()) as ErrorBody;
      assert.deepEqual([e.type, e.error.type], ['error', type]);
    }
    const text = 'one two three four five six seven eight';
    const broken = await events(await post(optionPath({ text, fault: 'error_event' }) + MSG, { ...base(), stream: true }));
    assert.deepEqual(broken.list.at(-1), { event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    assert.ok(textOf(broken.list).length > 0 && textOf(broken.list).length < text.length);
    const refused = await events(await post(optionPath({ text, fault: 'sensitive' }) + MSG, { ...base(), stream: true }));
    assert.equal(refused.list.at(-2)!.data.delta.stop_reason, 'refusal');
    const cut = await events(await post(optionPath({ text, fault: 'disconnect_mid' }) + MSG, { ...base(), stream: true }));
    assert.ok(cut.broken, 'the body breaks off');
    assert.ok(!types(cut.list).includes('message_stop'));
  });
});

describe('Anthropic prompt caching (only at cache_control breakpoints)', () => {
  const long = (tag: string) => `${tag}: ` + 'The quick brown fox jumps over the lazy dog. '.repeat(120); // ~1,200 tokens
  const ephemeral = { type: 'ephemeral' };
  const usageOf = async (body: object, key = KEY) => {
    const { list } = await events(await post(MSG, { ...base(), stream: true, ...body }, { 'x-api-key': key }));
    return list[0]!.data.message.usage;
  };

  test('a breakpoint after a long system prompt: written on the first request, read on the next; the fields add up', async () => {
    const system = [{ type: 'text', text: long('sys-a'), cache_control: ephemeral }];
    const first = await usageOf({ system });
    assert.equal(first.cache_read_input_tokens, 0);
    assert.ok(first.cache_creation_input_tokens >= 1024, JSON.stringify(first));
    const second = await usageOf({ system });
    assert.equal(second.cache_read_input_tokens, first.cache_creation_input_tokens);
    assert.equal(second.cache_creation_input_tokens, 0);
    assert.equal(second.input_tokens, first.input_tokens, 'what follows the breakpoint is paid in full both times');
    const other = await usageOf({ system, messages: [{ role: 'user', content: 'another question, a longer one this time' }] });
    assert.equal(other.cache_read_input_tokens, first.cache_creation_input_tokens, 'a different message after the breakpoint still reads');
    assert.ok(other.input_tokens > first.input_tokens);
  });

  test('the first token waits for the prefill of what the cache did not serve', async () => {
    const system = [{ type: 'text', text: long('sys-prefill'), cache_control: ephemeral }];
    const firstDelta = async () => {
      const t0 = performance.now();
      const res = await post(optionPath({ prefill_ms_per_token: 0.5, cached_ms_per_token: 0 }) + MSG, { ...base(), system, stream: true });
      const { list } = await events(res);
      assert.ok(list.some((e) => e.data.type === 'content_block_delta'));
      return performance.now() - t0;
    };
    const cold = await firstDelta();
    const warm = await firstDelta();
    assert.ok(cold >= 500, `~1,200 uncached tokens at 0.5 ms: ${cold} ms`);
    assert.ok(warm < cold / 3, `read from the cache: ${warm} ms vs ${cold} ms`);
    const recorded = emu.requests.filter((r) => JSON.stringify(r.body).includes('sys-prefill')).map((r) => r.prompt);
    assert.deepEqual([recorded[0]!.cached, recorded[1]!.tokens], [0, recorded[0]!.tokens]);
    assert.ok(recorded[1]!.cached > 1_000, JSON.stringify(recorded));
  });

  test('no breakpoint, no cache: the same long prompt twice reads nothing', async () => {
    const system = [{ type: 'text', text: long('sys-b') }];
    await usageOf({ system });
    const again = await usageOf({ system });
    assert.deepEqual([again.cache_creation_input_tokens, again.cache_read_input_tokens], [0, 0]);
  });

  test('below the minimum (1,024 tokens; 2,048 for Haiku) nothing is written', async () => {
    const short = [{ type: 'text', text: 'short system prompt', cache_control: ephemeral }];
    await usageOf({ system: short });
    assert.deepEqual(Object.values(await usageOf({ system: short })).slice(1, 3), [0, 0]);
    const mid = [{ type: 'text', text: long('sys-haiku'), cache_control: ephemeral }];
    const haiku = await usageOf({ system: mid, model: 'claude-3-5-haiku-latest' });
    assert.equal(haiku.cache_creation_input_tokens, 0, '~1,200 tokens is below Haiku 3.5 minimum');
  });

  test('per API key: another key does not read what the first wrote', async () => {
    const system = [{ type: 'text', text: long('sys-c'), cache_control: ephemeral }];
    await usageOf({ system });
    const other = await usageOf({ system }, 'sk-ant-other');
    assert.equal(other.cache_read_input_tokens, 0);
    assert.ok(other.cache_creation_input_tokens > 0);
  });

  test('a growing conversation: a breakpoint at the end of the history reads the previous turn’s prefix through the look-back', async () => {
    const system = [{ type: 'text', text: long('sys-d'), cache_control: ephemeral }];
    const turn1 = [
      { role: 'user', content: [{ type: 'text', text: long('q1'), cache_control: ephemeral }] },
      { role: 'assistant', content: [{ type: 'text', text: 'a1' }] },
      { role: 'user', content: 'q2' },
    ];
    const one = await usageOf({ system, messages: turn1 });
    assert.ok(one.cache_creation_input_tokens > 2_000, JSON.stringify(one));
    // next turn: the breakpoint moves to the new end of the history
    const turn2 = [
      { role: 'user', content: [{ type: 'text', text: long('q1') }] },
      { role: 'assistant', content: [{ type: 'text', text: 'a1' }] },
      { role: 'user', content: 'q2' },
      { role: 'assistant', content: [{ type: 'text', text: 'a2', cache_control: ephemeral }] },
      { role: 'user', content: 'q3' },
    ];
    const two = await usageOf({ system, messages: turn2 });
    assert.equal(two.cache_read_input_tokens, one.cache_creation_input_tokens, 'the system + q1 prefix is read');
    assert.ok(two.cache_creation_input_tokens > 0 && two.cache_creation_input_tokens < 10, 'only a1, q2, a2 are written');
  });
});

test('the cache forgets an entry its TTL after its last use', async () => {
  const cache = createAnthropicCache({ ttlMs: 60 });
  const blocks: PromptBlock[] = [
    { key: 'system', tokens: 1_500, breakpoint: true },
    { key: 'user', tokens: 10, breakpoint: false },
  ];
  assert.equal(cache.account('k', 'claude-sonnet-4-5', blocks).cache_creation_input_tokens, 1_500);
  await sleep(35);
  assert.equal(cache.account('k', 'claude-sonnet-4-5', blocks).cache_read_input_tokens, 1_500, 'read, and refreshed');
  await sleep(35);
  assert.equal(cache.account('k', 'claude-sonnet-4-5', blocks).cache_read_input_tokens, 1_500, 'still there: the read refreshed it');
  await sleep(90);
  const expired = cache.account('k', 'claude-sonnet-4-5', blocks);
  assert.deepEqual([expired.cache_read_input_tokens, expired.cache_creation_input_tokens, expired.input_tokens], [0, 1_500, 10]);
});
