// The provider against recorded Messages API streams (__fixtures__, in the shapes the API
// documents, spacing included), replayed over HTTP in odd-sized pieces: independent of our
// own emulator, so a drift between the two shows here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { collect } from '../complete.ts';
import type { UpstreamError } from '../errors.ts';
import { createPool, type UpstreamPool } from '../pool.ts';
import { createAnthropic } from './index.ts';
import { newThinkingMemo, THINKING_MEMO_BYTES } from './stream.ts';

const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url));

let server: Server;
let url: string;
let pool: UpstreamPool;
let reply: { status: number; body: Buffer; headers?: Record<string, string> };
const seen: Array<{ path: string; headers: IncomingHttpHeaders; body: { max_tokens?: number; thinking?: unknown } }> = [];

before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    const answer = async () => {
      seen.push({ path: req.url!, headers: req.headers, body: JSON.parse(raw) });
      res.writeHead(reply.status, { 'content-type': reply.status === 200 ? 'text/event-stream; charset=utf-8' : 'application/json', ...reply.headers });
      // odd-sized pieces: events, lines and UTF-8 sequences cut anywhere
      for (let i = 0; i < reply.body.length; i += 37) {
        res.write(reply.body.subarray(i, i + 37));
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    };
    req.on('end', () => void answer());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pool = createPool();
});
after(async () => {
  await pool.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const provider = (extra: object = {}) =>
  createAnthropic({ provider: 'anthropic', model: 'claude-sonnet-4-5', base_url: url, api_key: 'sk-ant-fixture', ...extra }, pool);

test('a recorded tool-use stream: text, then the tool call assembled from input_json_delta; usage with the cache read', async () => {
  reply = { status: 200, body: fixture('tool-use.sse') };
  const out = await collect(provider().stream({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Weather in SF?' }] }));
  assert.equal(out.text, 'Okay, let me check the weather in San Francisco:');
  assert.deepEqual(out.tool_calls, [
    { id: 'toolu_01Wx8bN3kq4Lm7Zp2Rt5Ys9V', name: 'get_weather', arguments: '{"location": "San Francisco, CA", "unit": "fahrenheit"}' },
  ]);
  assert.deepEqual([out.finish_reason, out.raw_finish_reason], ['tool_calls', 'tool_use']);
  assert.deepEqual(out.usage, { prompt_tokens: 472 + 1536, completion_tokens: 89, total_tokens: 472 + 1536 + 89, cached_prompt_tokens: 1536 });

  const req = seen.at(-1)!;
  assert.equal(req.path, '/v1/messages');
  assert.equal(req.headers['x-api-key'], 'sk-ant-fixture');
  assert.equal(req.headers['anthropic-version'], '2023-06-01');
  assert.equal(req.headers.authorization, undefined);
  assert.equal(req.body.max_tokens, 4096);
});

test('a recorded thinking stream: reasoning parts, then the answer; the budget half of max_tokens', async () => {
  reply = { status: 200, body: fixture('thinking.sse') };
  const p = provider({ thinking: 'enabled', max_tokens: 8000 });
  const out = await collect(p.stream({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: '27 * 453?' }] }));
  assert.match(out.reasoning, /27 \* 453 = 27 \* 400 \+ 27 \* 53 = 10800 \+ 1431 = 12231$/);
  assert.equal(out.text, '27 × 453 = 12,231');
  assert.deepEqual(out.usage, { prompt_tokens: 1288, completion_tokens: 41, total_tokens: 1329, cached_prompt_tokens: 0 });
  assert.deepEqual(seen.at(-1)!.body.thinking, { type: 'enabled', budget_tokens: 4000 });
});

test('an error answer: the type decides the code, retry-after is kept, the key is not in the message', async () => {
  reply = {
    status: 529,
    body: Buffer.from(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })),
    headers: { 'retry-after': '2' },
  };
  await assert.rejects(collect(provider().stream({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] })), (thrown: unknown) => {
    const err = thrown as UpstreamError;
    assert.deepEqual([err.code, err.retryable, err.status, err.providerCode, err.retryAfterMs], ['upstream_unavailable', true, 529, 'overloaded_error', 2000]);
    assert.equal(err.message, '529 overloaded_error: Overloaded');
    assert.ok(!err.message.includes('sk-ant-fixture'));
    return true;
  });
});

test('the thinking memo is bounded in entries and in bytes: long thinking past 4 MiB pushes the oldest out', () => {
  const memo = newThinkingMemo();
  const block = (i: number) => [{ type: 'thinking' as const, thinking: `${i} `.padEnd(100_000, 'x'), signature: 'sig' }];
  for (let i = 0; i < 100; i++) memo.set(`call_${i}`, block(i)); // 100 × ~100 KB: past THINKING_MEMO_BYTES
  assert.ok(memo.calculatedSize <= THINKING_MEMO_BYTES, `${memo.calculatedSize} bytes held`);
  assert.ok(memo.size < 100 && memo.size >= 40, `${memo.size} entries kept`);
  assert.equal(memo.get('call_0'), undefined, 'the oldest is gone');
  assert.ok(memo.get('call_99'), 'the newest is kept');
  const small = newThinkingMemo();
  for (let i = 0; i < 300; i++) small.set(`c${i}`, [{ type: 'redacted_thinking', data: 'd' }]);
  assert.equal(small.size, 256, 'at most 256 calls');
});
