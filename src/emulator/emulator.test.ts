// The upstream emulator over real HTTP: both wire formats, pacing, every fault, auth.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { PROFILES } from './profiles.ts';
import { startEmulator } from './server.ts';
import { tokenize } from './tokens.ts';
import { optionPath } from './options.ts';
import { requestTokens } from './context.ts';
import { waitFor } from '../../test/wait.ts';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

const tricky = 'Hello, 世界! 你好，今天天气怎么样？ Emoji: 😀👍🏽👨‍👩‍👧‍👦🇩🇪 — done. ' + '混合 text 🎉 '.repeat(2);
const KEY = 'kid.ksecret';
const OA = '/v1/chat/completions';
const ZP = '/api/paas/v4/chat/completions';

const user = (content: string) => ({ messages: [{ role: 'user', content }] });

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0, profile: 'instant', zhipuKeys: [KEY] });
});
after(async () => {
  await emu.close();
});

function post(path: string, body: unknown, { auth = `Bearer ${KEY}`, signal }: { auth?: string | null; signal?: AbortSignal } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth) headers.authorization = auth;
  return fetch(emu.url + path, { method: 'POST', headers, body: JSON.stringify(body), signal });
}

/** Every SSE `data:` payload, and the error that ended the body, if any. */
async function readEvents(res: Response): Promise<{ data: string[]; error?: unknown }> {
  const data: string[] = [];
  const events = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  try {
    for await (const ev of events) data.push(ev.data);
    return { data };
  } catch (error) {
    return { data, error };
  }
}

const json = (data: string[]) => data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d));
const textOf = (chunks: Array<{ choices?: Array<{ delta?: { content?: string | null } }> }>) =>
  chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');

/** An error answer, OpenAI's or Zhipu's shape (the fields these tests read). */
interface ErrorBody {
  error: { type?: string; code: string | null; param?: string | null; message: string };
}

/** A non-streamed chat completion, OpenAI's or Zhipu's shape. */
interface Completion {
  id: string;
  object: string;
  request_id?: string;
  choices: Array<{ index: number; message: unknown; finish_reason: string }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** The response body as the raw pieces node's HTTP client hands over, one per chunked-encoding chunk. */
function rawChunks(path: string, body: unknown): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const req = request(emu.url + path, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(chunks));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('tokens and profiles', () => {
  test('tokens reassemble exactly; CJK in 1–2 characters, emoji whole', () => {
    for (const t of [tricky, '  lead and trail  ', '', 'a\n\nb', 'x'.repeat(40)]) assert.equal(tokenize(t).join(''), t);
    const tokens = tokenize(tricky);
    assert.ok(tokens.includes('👨‍👩‍👧‍👦'), 'a ZWJ family stays one token');
    assert.ok(tokens.includes('世界'));
    for (const tok of tokens) assert.ok(!/[\uD800-\uDBFF]$/.test(tok), 'no token ends inside a surrogate pair');
  });

  test('profiles carry the seed report latencies', () => {
    assert.deepEqual([PROFILES.instant.first_token_ms, PROFILES.instant.tokens_per_s], [0, 0]);
    assert.deepEqual([PROFILES['glm-4-flash'].first_token_ms, PROFILES['glm-4-flash'].tokens_per_s], [1500, 80]);
    assert.deepEqual([PROFILES['glm-4'].first_token_ms, PROFILES['glm-4'].tokens_per_s], [20_000, 30]);
  });
});

describe('OpenAI format', () => {
  test('stream: role chunk, content, bare finish chunk, usage chunk only when asked, [DONE]', async () => {
    const res = await post(`${optionPath({ text: tricky })}${OA}`, { model: 'gpt-x', stream: true, stream_options: { include_usage: true }, ...user('hi') });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const { data } = await readEvents(res);
    assert.equal(data.at(-1), '[DONE]');
    const chunks = json(data);
    const first = chunks[0];
    assert.match(first.id, /^chatcmpl-/);
    assert.equal(first.object, 'chat.completion.chunk');
    assert.equal(first.model, 'gpt-x');
    assert.equal(typeof first.created, 'number');
    assert.match(first.system_fingerprint, /^fp_/);
    assert.deepEqual(first.choices[0], { index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null });
    for (const c of chunks) assert.equal(c.id, first.id, 'one id per response');
    const [finish, usage] = chunks.slice(-2);
    assert.deepEqual(finish.choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
    assert.equal(finish.usage, null, 'with include_usage every other chunk has usage: null');
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.completion_tokens, tokenize(tricky).length);
    // OpenAI's accounting in o200k tokens: 3 to prime the reply, 3 per message, `user`, `hi`
    assert.equal(usage.usage.prompt_tokens, 8);
    assert.deepEqual(usage.usage.prompt_tokens_details, { cached_tokens: 0, audio_tokens: 0 });
    assert.equal(usage.usage.total_tokens, usage.usage.prompt_tokens + usage.usage.completion_tokens);
    assert.equal(textOf(chunks), tricky);
    assert.equal(chunks.length, tokenize(tricky).length + 3, 'one chunk per token');
  });

  test('stream without include_usage: no usage field at all; default answer echoes the prompt', async () => {
    const { data } = await readEvents(await post(OA, { stream: true, ...user('what is 2+2?') }));
    const chunks = json(data);
    assert.ok(chunks.every((c) => !('usage' in c)));
    assert.ok(chunks.every((c) => c.choices.length === 1));
    assert.equal(textOf(chunks), 'Echo: what is 2+2?');
    assert.equal(data.at(-1), '[DONE]');
  });

  test('non-stream: chat.completion with message and usage', async () => {
    const res = await post(`${optionPath({ text: '你好 😀' })}${OA}`, user('hi'));
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    const body = (await res.json()) as Completion;
    assert.equal(body.object, 'chat.completion');
    assert.deepEqual(body.choices[0]!.message, { role: 'assistant', content: '你好 😀', refusal: null, annotations: [] });
    assert.equal(body.choices[0]!.finish_reason, 'stop');
    assert.equal(body.usage.completion_tokens, tokenize('你好 😀').length);
  });

  test('first_token_ms paces the first content chunk; the role chunk goes at once', async () => {
    const FIRST_TOKEN_MS = 600;
    const start = Date.now();
    const res = await post(`${optionPath({ first_token_ms: FIRST_TOKEN_MS, text: 'a b' })}${OA}`, { stream: true, ...user('x') });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const roleAt = (await reader.read(), Date.now() - start);
    let seen = '';
    while (!seen.includes('"content":"a ')) seen += (await reader.read()).value;
    const contentAt = Date.now() - start;
    await reader.cancel();
    // Lower bounds only, which load cannot break (timers fire late, never early): the first
    // token waits its time, and the role chunk comes well before it, not held for it.
    assert.ok(contentAt >= FIRST_TOKEN_MS - 10, `first token after ${contentAt} ms`);
    assert.ok(contentAt - roleAt >= FIRST_TOKEN_MS / 2, `role chunk after ${roleAt} ms, first token after ${contentAt} ms`);
  });

  test('auth: a bearer is required', async () => {
    const res = await post(OA, user('x'), { auth: null });
    assert.equal(res.status, 401);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.param, null);
  });
});

describe('Zhipu format', () => {
  test('stream: role in every delta; the last chunk carries finish_reason and usage unasked', async () => {
    const res = await post(`${optionPath({ text: tricky })}${ZP}`, {
      model: 'glm-4-flash',
      stream: true,
      stream_options: { include_usage: false },
      ...user('你好'),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const { data } = await readEvents(res);
    assert.equal(data.at(-1), '[DONE]');
    const chunks = json(data);
    for (const c of chunks) {
      assert.deepEqual(Object.keys(c).slice(0, 4), ['id', 'created', 'model', 'choices']);
      assert.equal(c.model, 'glm-4-flash');
      assert.equal(c.choices[0].delta.role, 'assistant');
      assert.ok(!('object' in c) && !('logprobs' in c.choices[0]));
    }
    for (const c of chunks.slice(0, -1)) assert.ok(!('usage' in c) && !('finish_reason' in c.choices[0]));
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'stop');
    const prompt = requestTokens(user('你好'));
    assert.deepEqual(last.usage, { prompt_tokens: prompt, completion_tokens: tokenize(tricky).length, total_tokens: prompt + tokenize(tricky).length });
    assert.equal(textOf(chunks), tricky);
  });

  test('non-stream: message, usage, request_id', async () => {
    const body = (await (await post(`${optionPath({ text: '智谱' })}${ZP}`, { model: 'glm-4', ...user('hi') })).json()) as Completion;
    assert.deepEqual(body.choices[0], { finish_reason: 'stop', index: 0, message: { content: '智谱', role: 'assistant' } });
    assert.equal(body.request_id, body.id);
    assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);
  });

  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  function jwt(key: string, { exp = Date.now() + 60_000, header = { alg: 'HS256', sign_type: 'SIGN' } } = {}) {
    const [id, secret] = key.split('.') as [string, string];
    const signed = `${b64(header)}.${b64({ api_key: id, exp, timestamp: Date.now() })}`;
    return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
  }

  test('auth: the key verbatim or an HS256 JWT signed with its secret; anything else is 401 with a string code', async () => {
    const cases: Array<[string | null, number, string?, boolean?]> = [
      [`Bearer ${KEY}`, 200],
      [`Bearer ${jwt(KEY)}`, 200, undefined, true],
      [`Bearer ${jwt('kid.wrong')}`, 401, '1002', false],
      [`Bearer ${jwt('other.ksecret')}`, 401, '1002', false],
      [`Bearer ${jwt(KEY, { header: { alg: 'HS256', sign_type: 'NONE' } })}`, 401, '1002', false],
      [`Bearer ${jwt(KEY, { exp: Date.now() - 1 })}`, 401, '1003', false],
      [`Bearer kid.other`, 401, '1002'],
      [null, 401, '1001'],
    ];
    for (const [auth, status, code, jwtValid] of cases) {
      const res = await post(ZP, user('x'), { auth });
      assert.equal(res.status, status, String(auth));
      const body = (await res.json()) as ErrorBody;
      if (code) (assert.deepEqual(Object.keys(body.error), ['code', 'message']), assert.equal(body.error.code, code));
      assert.equal(emu.requests.at(-1)!.jwtValid, jwtValid, String(auth));
    }
  });
});

describe('byte-level faults keep the text exact', () => {
  for (const fault of ['split_utf8', 'drip'] as const) {
    for (const path of [OA, ZP]) {
      test(`${fault} on ${path}`, async () => {
        const { data } = await readEvents(await post(`${optionPath({ text: tricky, fault })}${path}`, { stream: true, ...user('x') }));
        assert.equal(data.at(-1), '[DONE]');
        assert.equal(textOf(json(data)), tricky);
      });
    }
  }

  test('drip really arrives one byte at a time', async () => {
    const chunks = await rawChunks(`${optionPath({ text: '你好 😀 ok', fault: 'drip' })}${OA}`, { stream: true, ...user('x') });
    const total = Buffer.concat(chunks);
    assert.ok(chunks.length >= total.length * 0.9, `${chunks.length} pieces for ${total.length} bytes`);
    assert.ok(chunks.every((c) => c.length === 1));
    assert.match(total.toString('utf8'), /data: \[DONE\]\n\n$/);
  });

  test('split_utf8 cuts inside multi-byte characters', async () => {
    const chunks = await rawChunks(`${optionPath({ text: tricky, fault: 'split_utf8' })}${ZP}`, { stream: true, ...user('x') });
    const midChar = chunks.filter((c) => (c.at(-1)! & 0xc0) === 0xc0 || (c[0]! & 0xc0) === 0x80);
    assert.ok(midChar.length > 10, `${midChar.length} pieces start or end inside a character`);
    assert.equal(
      textOf(
        json(
          Buffer.concat(chunks)
            .toString('utf8')
            .split('\n\n')
            .filter(Boolean)
            .map((l) => l.slice(6)),
        ),
      ),
      tricky,
    );
  });
});

describe('faults', () => {
  const longText = 'one two three four five six seven eight';

  test("HTTP faults answer each format's error shape", async () => {
    const cases: Array<[string, string, number, (e: ErrorBody['error']) => void]> = [
      ['401', OA, 401, (e) => assert.deepEqual([e.type, e.code], ['invalid_request_error', 'invalid_api_key'])],
      ['401', ZP, 401, (e) => assert.equal(e.code, '1002')],
      ['429', OA, 429, (e) => assert.equal(e.code, 'rate_limit_exceeded')],
      ['429', ZP, 429, (e) => assert.equal(e.code, '1302')],
      ['500', OA, 500, (e) => assert.deepEqual([e.type, e.code], ['server_error', null])],
      ['500', ZP, 500, (e) => assert.equal(e.code, '500')],
      ['503', OA, 503, (e) => assert.equal(e.type, 'server_error')],
    ];
    for (const [fault, path, status, check] of cases) {
      for (const stream of [true, false]) {
        const res = await post(`${optionPath({ fault })}${path}`, { stream, ...user('x') });
        assert.equal(res.status, status);
        assert.match(res.headers.get('content-type')!, /^application\/json/);
        if (status === 429) assert.equal(res.headers.get('retry-after'), '1');
        const { error } = (await res.json()) as ErrorBody;
        if (path === OA) assert.ok('param' in error && typeof error.message === 'string');
        else assert.equal(typeof error.code, 'string');
        check(error);
      }
    }
  });

  test('fail_times=N fails the first N requests of that option set only', async () => {
    const statuses = async (o: Record<string, string | number>) => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push((await post(`${optionPath(o)}${OA}`, user('x'))).status);
      return out;
    };
    assert.deepEqual(await statuses({ fault: '500', fail_times: 2, text: 'a' }), [500, 500, 200]);
    assert.deepEqual(await statuses({ fault: '429', fail_times: 1, text: 'b' }), [429, 200, 200]);
    assert.deepEqual(await statuses({ fault: '503' }), [503, 503, 503]);
  });

  test('disconnect_mid: about half the tokens, then the connection drops without [DONE]', async () => {
    for (const path of [OA, ZP]) {
      const { data, error } = await readEvents(await post(`${optionPath({ fault: 'disconnect_mid', text: longText })}${path}`, { stream: true, ...user('x') }));
      assert.ok(error, 'the body ends in an error');
      assert.ok(!data.includes('[DONE]'));
      assert.equal(textOf(json(data)), 'one two three four ');
    }
  });

  test('malformed_json: half the tokens, then a line that is not JSON, no [DONE]', async () => {
    const { data } = await readEvents(await post(`${optionPath({ fault: 'malformed_json', text: longText })}${OA}`, { stream: true, ...user('x') }));
    assert.ok(!data.includes('[DONE]'));
    assert.throws(() => JSON.parse(data.at(-1)!));
    assert.equal(textOf(json(data.slice(0, -1))), 'one two three four ');
  });

  test('sensitive and network_error end with that finish reason (OpenAI: content_filter)', async () => {
    for (const [fault, path, reason] of [
      ['sensitive', ZP, 'sensitive'],
      ['network_error', ZP, 'network_error'],
      ['sensitive', OA, 'content_filter'],
    ]) {
      const { data } = await readEvents(await post(`${optionPath({ fault: fault!, text: longText })}${path!}`, { stream: true, ...user('x') }));
      assert.equal(data.at(-1), '[DONE]');
      const chunks = json(data);
      assert.equal(textOf(chunks), 'one two three four ');
      const finish = chunks.findLast((c) => c.choices[0]?.finish_reason);
      assert.equal(finish.choices[0].finish_reason, reason);
      if (path === ZP) assert.equal(finish.usage.completion_tokens, 4);
    }
  });

  test('error_event: some tokens, then a data: {"error"} event and the end', async () => {
    const { data, error } = await readEvents(await post(`${optionPath({ fault: 'error_event', text: longText })}${ZP}`, { stream: true, ...user('x') }));
    assert.equal(error, undefined);
    const last = JSON.parse(data.at(-1)!);
    assert.equal(last.error.code, '1234');
    assert.match(last.error.message, /^网络错误，错误id：\d+，请联系客服$/);
    assert.equal(textOf(json(data.slice(0, -1))), 'one two three four ');
  });

  test('hang_before_first_token sends nothing until the client leaves', async () => {
    const ac = new AbortController();
    const pending = post(`${optionPath({ fault: 'hang_before_first_token' })}${OA}`, { stream: true, ...user('x') }, { signal: ac.signal });
    await waitFor('the request received', () => emu.requests.at(-1)?.options.fault === 'hang_before_first_token');
    const rec = emu.requests.at(-1)!;
    const outcome = await Promise.race([pending.then(() => 'answered'), new Promise((r) => setTimeout(r, 150, 'silent'))]);
    assert.equal(outcome, 'silent');
    const abortedAt = Date.now();
    ac.abort();
    await pending.catch(() => {});
    // the fault never ends on its own: closing at all is the client's leaving (the bound says "not stuck")
    await waitFor('the request closed', () => rec.closedAt !== undefined, { timeoutMs: 5_000 });
    assert.ok(rec.closedAt! >= abortedAt);
  });
});

describe('tool calls', () => {
  const calls = JSON.stringify([{ name: 'get_weather', arguments: { city: 'Paris' } }]);

  test('OpenAI: a header delta with id and name, arguments in pieces, finish tool_calls', async () => {
    const { data } = await readEvents(await post(`${optionPath({ tool_calls: calls })}${OA}`, { stream: true, ...user('weather?') }));
    const chunks = json(data);
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    assert.equal(deltas[0].index, 0);
    assert.match(deltas[0].id, /^call_/);
    assert.equal(deltas[0].type, 'function');
    assert.deepEqual(deltas[0].function, { name: 'get_weather', arguments: '' });
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const pieces = deltas.slice(1).map((d: { function: { arguments: string } }) => d.function.arguments);
    assert.ok(pieces.length >= 2);
    assert.deepEqual(JSON.parse(pieces.join('')), { city: 'Paris' });
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
  });

  test('Zhipu: whole arguments in one delta with finish tool_calls and usage', async () => {
    const { data } = await readEvents(await post(`${optionPath({ tool_calls: calls })}${ZP}`, { stream: true, ...user('weather?') }));
    const last = json(data).at(-1);
    assert.equal(last.choices[0].finish_reason, 'tool_calls');
    const [call] = last.choices[0].delta.tool_calls;
    assert.deepEqual(call.function, { name: 'get_weather', arguments: '{"city":"Paris"}' });
    assert.ok(last.usage.completion_tokens > 0);
  });

  test('after a tool result the answer is text', async () => {
    const messages = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ];
    const { data } = await readEvents(await post(`${optionPath({ tool_calls: calls })}${OA}`, { stream: true, messages }));
    assert.equal(textOf(json(data)), 'Tool said: sunny');
    assert.equal(json(data).at(-1).choices[0].finish_reason, 'stop');
  });
});

describe('connection lifecycle', () => {
  test('closedAt is set when a client aborts mid-stream, long before the answer would end', async () => {
    const ac = new AbortController();
    // 200 tokens at 20 a second: 10 s of answer
    const res = await post(
      `${optionPath({ tokens_per_s: 20, text: 'a b c d e f g h i j k l m n o p q r s t u v w x y z '.repeat(8).trim() })}${OA}`,
      { stream: true, ...user('x') },
      { signal: ac.signal },
    );
    const rec = emu.requests.at(-1)!;
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    while (!seen.includes('"content":"a "')) seen += (await reader.read()).value;
    const abortedAt = Date.now();
    ac.abort();
    await waitFor('the request closed', () => rec.closedAt !== undefined);
    // half the answer's time: "cut by the abort", not a speed target
    assert.ok(rec.closedAt! - abortedAt < 5_000, `closed ${rec.closedAt! - abortedAt} ms after the abort`);
  });

  test('aborted slow streams leave no timers behind', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const baseline = timers();
    const streams = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const ac = new AbortController();
        const res = await post(`${optionPath({ tokens_per_s: 1, text: 'a b c d' })}${OA}`, { stream: true, ...user('x') }, { signal: ac.signal });
        await res.body!.getReader().read();
        return ac;
      }),
    );
    const recs = emu.requests.slice(-50);
    assert.ok(timers() >= baseline + 40, 'each slow stream waits on a timer');
    for (const ac of streams) ac.abort();
    await waitFor('all 50 requests closed', () => recs.every((r) => r.closedAt !== undefined));
    await new Promise((r) => setImmediate(r));
    assert.ok(timers() <= baseline + 2, `${timers() - baseline} timers left`);
  });

  test('HEAD answers 200 empty; GET models lists; unknown POST is an OpenAI 404', async () => {
    const head = await fetch(emu.url + '/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const models = (await (await fetch(`${emu.url}/v1/models`)).json()) as { object: string; data: Array<{ object: string }> };
    assert.equal(models.object, 'list');
    assert.ok(models.data.every((m) => m.object === 'model'));
    const res = await post('/v1/nothing', {});
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as ErrorBody).error.message, /Invalid URL \(POST \/v1\/nothing\)/);
  });

  test('requests record path, options, body and format; options are stripped before routing', async () => {
    await (await post(`/~text=hi/~first_token_ms=0${ZP}`, user('x'))).text();
    const rec = emu.requests.at(-1)!;
    assert.equal(rec.path, ZP);
    assert.equal(rec.format, 'zhipu');
    assert.deepEqual(rec.options, { text: 'hi', first_token_ms: '0' });
    assert.deepEqual(rec.body, user('x'));
    assert.equal(rec.headers['content-type'], 'application/json');
    assert.ok(rec.closedAt! >= rec.receivedAt);
  });
});

describe('context window', () => {
  const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i % 50}`).join(' ');

  test("a prompt over the window is refused with each provider's own error; one that fits is answered", async () => {
    for (const path of [OA, ZP]) {
      const fits = await post(`${optionPath({ context_tokens: 2_000, text: 'ok' })}${path}`, { model: 'gpt-4o', stream: true, ...user(words(200)) });
      assert.equal(fits.status, 200, path);
      await fits.text();
      const over = await post(`${optionPath({ context_tokens: 2_000 })}${path}`, { model: 'gpt-4o', stream: true, ...user(words(2_000)) });
      assert.equal(over.status, 400, path);
      const { error } = (await over.json()) as ErrorBody;
      if (path === OA) {
        assert.deepEqual([error.type, error.code, error.param], ['invalid_request_error', 'context_length_exceeded', 'messages']);
        assert.match(error.message, /^This model's maximum context length is 2000 tokens\. However, your messages resulted in \d+ tokens\./);
      } else {
        assert.deepEqual(error, { code: '1261', message: 'Prompt 超长' });
      }
    }
  });

  test("max_tokens counts against the window; the default window is the model's", async () => {
    const body = { model: 'gpt-4o', ...user(words(200)) };
    assert.equal((await post(`${optionPath({ context_tokens: 2_000 })}${OA}`, { ...body, max_tokens: 1_000 })).status, 200);
    const over = await post(`${optionPath({ context_tokens: 2_000 })}${OA}`, { ...body, max_tokens: 1_900 });
    assert.equal(over.status, 400);
    assert.match(((await over.json()) as ErrorBody).error.message, /you requested \d+ tokens \(\d+ in the messages, 1900 in the completion\)/);
    // gpt-4o's real window is 128k tokens: 20k words fit in it.
    const big = await post(`${optionPath({ text: 'ok' })}${OA}`, { ...body, ...user(words(20_000)) });
    assert.equal(big.status, 200);
    await big.text();
  });
});

describe('reasoning models', () => {
  const thought = 'Think 思考 first.';
  test('Zhipu glm-4.5: reasoning_content chunks (role repeated) before the content; thinking disabled turns them off', async () => {
    const chunks = json(
      (await readEvents(await post(optionPath({ reasoning: thought, text: 'Answer.' }) + ZP, { model: 'glm-4.5', stream: true, ...user('q') }))).data,
    );
    const thinking = chunks.filter((c) => c.choices[0].delta.reasoning_content !== undefined);
    assert.equal(thinking.map((c) => c.choices[0].delta.reasoning_content).join(''), thought);
    assert.ok(thinking.every((c) => c.choices[0].delta.role === 'assistant' && c.choices[0].delta.content === undefined));
    const firstText = chunks.findIndex((c) => c.choices[0].delta.content);
    assert.ok(firstText > chunks.indexOf(thinking.at(-1)), 'all reasoning before the answer');
    assert.equal(textOf(chunks), 'Answer.');
    const off = json(
      (await readEvents(await post(optionPath({ text: 'Answer.' }) + ZP, { model: 'glm-4.5', thinking: { type: 'disabled' }, stream: true, ...user('q') })))
        .data,
    );
    assert.equal(off.filter((c) => c.choices[0].delta.reasoning_content).length, 0);
    const old = json((await readEvents(await post(ZP, { model: 'glm-4-flash', stream: true, ...user('q') }))).data);
    assert.equal(old.filter((c) => c.choices[0].delta.reasoning_content).length, 0, 'glm-4 does not think');
  });

  test('DeepSeek deepseek-reasoner: the opening frame, reasoning then content with the other field null, reasoning_tokens in usage', async () => {
    const chunks = json(
      (
        await readEvents(
          await post(optionPath({ reasoning: thought, text: 'Answer.' }) + OA, {
            model: 'deepseek-reasoner',
            stream: true,
            stream_options: { include_usage: true },
            ...user('q'),
          }),
        )
      ).data,
    );
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: null, reasoning_content: '' });
    const deltas = chunks
      .slice(1)
      .map((c) => c.choices[0]?.delta)
      .filter((d) => d && (d.content || d.reasoning_content));
    const firstText = deltas.findIndex((d) => d.content);
    assert.ok(deltas.slice(0, firstText).every((d) => d.content === null && typeof d.reasoning_content === 'string'));
    assert.ok(deltas.slice(firstText).every((d) => d.reasoning_content === null && typeof d.content === 'string'));
    assert.equal(deltas.map((d) => d.reasoning_content ?? '').join(''), thought);
    const usage = chunks.at(-1).usage;
    assert.equal(usage.completion_tokens_details.reasoning_tokens, tokenize(thought).length);
    const whole = await (await post(optionPath({ reasoning: thought, text: 'Answer.' }) + OA, { model: 'deepseek-reasoner', ...user('q') })).json();
    assert.deepEqual([whole.choices[0].message.reasoning_content, whole.choices[0].message.content], [thought, 'Answer.']);
    const refused = await post(OA, {
      model: 'deepseek-reasoner',
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b', reasoning_content: 'c' },
        { role: 'user', content: 'd' },
      ],
    });
    assert.equal(refused.status, 400);
  });

  test('reasoning before tool calls, in both formats', async () => {
    const calls = encodeURIComponent(JSON.stringify([{ name: 'f', arguments: { x: 1 } }]));
    for (const [path, model] of [
      [OA, 'deepseek-reasoner'],
      [ZP, 'glm-4.5'],
    ] as const) {
      const chunks = json(
        (await readEvents(await post(`/~tool_calls=${calls}` + optionPath({ reasoning: thought }) + path, { model, stream: true, ...user('q') }))).data,
      );
      const thinking = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
      assert.equal(thinking, thought, model);
      const call = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
      assert.equal(call[0].function.name, 'f', model);
      assert.equal(chunks.findLast((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'tool_calls');
    }
  });
});
