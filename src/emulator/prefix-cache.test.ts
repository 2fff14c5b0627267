// The prompt cache against the providers' documented rules: nothing under 1,024 tokens,
// hits in 128-token steps, per key and model, gone after its idle TTL, and a change early
// in the prompt misses everything after it. Then over HTTP: usage reports it, and the
// first token waits for the uncached tokens.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { blockEnds, DEEPSEEK_RULES, OPENAI_RULES, PrefixCache } from './prefix-cache.ts';
import { optionPath } from './options.ts';
import { startEmulator, type Emulator } from './server.ts';

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** What a provider does with each request: the cached length, then the prompt stored. */
const serve = (cache: PrefixCache, scope: string, tokens: number[]) => cache.serve(scope, tokens, blockEnds(tokens.length, OPENAI_RULES));

describe('prefix cache rules', () => {
  test('block ends: none under 1,024 tokens, then every 128 (OpenAI); DeepSeek every 64', () => {
    assert.deepEqual(blockEnds(1023, OPENAI_RULES), []);
    assert.deepEqual(blockEnds(1024, OPENAI_RULES), [1024]);
    assert.deepEqual(blockEnds(1300, OPENAI_RULES), [1024, 1152, 1280]);
    assert.deepEqual(blockEnds(63, DEEPSEEK_RULES), []);
    assert.deepEqual(blockEnds(200, DEEPSEEK_RULES), [64, 128, 192]);
  });

  test('under 1,024 tokens nothing is cached, even when resent verbatim', () => {
    const cache = new PrefixCache();
    const prompt = ids(1000);
    assert.equal(serve(cache, 'k', prompt), 0);
    assert.equal(serve(cache, 'k', prompt), 0);
  });

  test('a resent prompt that grew: cached = the shared prefix rounded down to 1,024 + k·128', () => {
    const cache = new PrefixCache();
    const first = ids(1500);
    assert.equal(serve(cache, 'k', first), 0, 'first sight: a miss');
    assert.equal(serve(cache, 'k', [...first, ...ids(300, 10_000)]), 1408, '1,500 shared tokens → 1,024 + 3·128');
    // the second request stored its own prefixes: 1,800 tokens → up to 1,792
    assert.equal(serve(cache, 'k', [...first, ...ids(300, 10_000), 7]), 1792);
    // a prompt that shares only 1,100 tokens with what was seen
    assert.equal(serve(cache, 'k', [...first.slice(0, 1100), ...ids(900, 50_000)]), 1024);
  });

  test('a changed early token invalidates everything after it', () => {
    const cache = new PrefixCache();
    const prompt = ids(4000);
    serve(cache, 'k', prompt);
    const edited = [...prompt];
    edited[350] = 999_999;
    assert.equal(serve(cache, 'k', edited), 0, 'a change at token 350 leaves no block of 1,024+ intact');
    const late = [...prompt];
    late[2000] = 999_999;
    assert.equal(serve(cache, 'k', late), 1920, 'a change at token 2,000: the 15 blocks before it');
  });

  test('a different key or model does not share', () => {
    const cache = new PrefixCache();
    const prompt = ids(2048);
    serve(cache, 'key-a\ngpt-4o', prompt);
    assert.equal(serve(cache, 'key-b\ngpt-4o', prompt), 0);
    assert.equal(serve(cache, 'key-a\ngpt-4o-mini', prompt), 0);
    assert.equal(serve(cache, 'key-a\ngpt-4o', prompt), 2048);
  });

  test('a prefix unused for the TTL is gone; a use keeps it', () => {
    let now = 0;
    const cache = new PrefixCache({ ttlMs: 5 * 60_000, now: () => now });
    const prompt = ids(2048);
    serve(cache, 'k', prompt);
    now += 4 * 60_000;
    assert.equal(serve(cache, 'k', prompt), 2048, 'within the TTL');
    now += 4 * 60_000;
    assert.equal(serve(cache, 'k', prompt), 2048, 'the last use restarted the TTL');
    now += 5 * 60_000 + 1;
    assert.equal(serve(cache, 'k', prompt), 0, 'idle past the TTL');
  });

  test('bounded: the LRU keeps at most maxEntries blocks and counts its evictions', () => {
    const cache = new PrefixCache({ maxEntries: 16 });
    for (let i = 0; i < 10; i++) serve(cache, `k${i}`, ids(2048));
    const { entries, evictions } = cache.stats();
    assert.equal(entries, 16);
    assert.equal(evictions, 10 * 9 - 16);
    assert.equal(serve(cache, 'k9', ids(2048)), 2048, 'the most recent prompt is still whole');
    assert.equal(serve(cache, 'k0', ids(2048)), 0, 'the oldest is gone');
  });
});

describe('emulator prompt caching over HTTP', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ port: 0, profile: 'instant' });
  });
  after(() => emu.close());

  // ~1,500 o200k tokens: distinct words, so the count does not depend on repetition merging
  const system = Array.from({ length: 1500 }, (_, i) => `w${i}`).join(' ');
  const OA = '/v1/chat/completions';
  /** The last chunk's usage: OpenAI's cached_tokens, or DeepSeek's hit and miss counts. */
  interface Usage {
    prompt_tokens: number;
    prompt_tokens_details: { cached_tokens: number };
    prompt_cache_hit_tokens: number;
    prompt_cache_miss_tokens: number;
  }

  async function ask(path: string, key: string, body: object): Promise<{ usage: Usage; ttfbMs: number }> {
    const start = performance.now();
    const res = await fetch(emu.url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ stream: true, stream_options: { include_usage: true }, ...body }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    let ttfbMs = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!ttfbMs && /"content":"[^"]/.test(value)) ttfbMs = performance.now() - start;
      text += value;
    }
    const chunks = text
      .split('\n\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)));
    return { usage: chunks.findLast((c) => c.usage)?.usage, ttfbMs };
  }

  test('a second turn reports the shared prefix as cached_tokens; another key does not share it', async () => {
    const turn1 = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: 'first question' },
      ],
    };
    const a = await ask(OA, 'key-one', turn1);
    assert.ok(a.usage.prompt_tokens > 1024, `${a.usage.prompt_tokens} prompt tokens`);
    assert.equal(a.usage.prompt_tokens_details.cached_tokens, 0);
    const turn2 = { ...turn1, messages: [...turn1.messages, { role: 'assistant', content: 'an answer' }, { role: 'user', content: 'second' }] };
    const b = await ask(OA, 'key-one', turn2);
    const cached = b.usage.prompt_tokens_details.cached_tokens;
    assert.ok(cached >= 1024 && cached <= a.usage.prompt_tokens && (cached - 1024) % 128 === 0, `cached ${cached} of ${b.usage.prompt_tokens}`);
    assert.ok(a.usage.prompt_tokens - cached < 128, 'the whole first prompt but its last partial block');
    const other = await ask(OA, 'key-two', turn2);
    assert.equal(other.usage.prompt_tokens_details.cached_tokens, 0);
    const off = await ask(`${optionPath({ cache: 'off' })}${OA}`, 'key-one', turn2);
    assert.equal(off.usage.prompt_tokens_details.cached_tokens, 0, '~cache=off');
  });

  test('DeepSeek reports prompt_cache_hit_tokens / prompt_cache_miss_tokens; Zhipu cached_tokens when any', async () => {
    const body = {
      model: 'deepseek-chat',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: 'q' },
      ],
    };
    const first = await ask(OA, 'ds', body);
    assert.equal(first.usage.prompt_cache_hit_tokens, 0);
    assert.equal(first.usage.prompt_cache_miss_tokens, first.usage.prompt_tokens);
    const again = await ask(OA, 'ds', body);
    assert.ok(again.usage.prompt_cache_hit_tokens > 1024 && again.usage.prompt_cache_hit_tokens % 64 === 0);
    assert.equal(again.usage.prompt_cache_hit_tokens + again.usage.prompt_cache_miss_tokens, again.usage.prompt_tokens);

    const zp = '/api/paas/v4/chat/completions';
    const glm = { model: 'glm-4.5', thinking: { type: 'disabled' }, messages: body.messages };
    const z1 = await ask(zp, 'zk.secret', glm);
    assert.ok(!('prompt_tokens_details' in z1.usage), 'no cached field on a miss');
    const z2 = await ask(zp, 'zk.secret', glm);
    assert.ok(z2.usage.prompt_tokens_details.cached_tokens >= 1024);
  });

  test('Zhipu: two JWTs made for the same key id share the cache (a JWT is refreshed every few minutes)', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = (timestamp: number) => `${b64({ alg: 'HS256', sign_type: 'SIGN' })}.${b64({ api_key: 'zid', exp: Date.now() + 60_000, timestamp })}.c2ln`;
    const zp = '/api/paas/v4/chat/completions';
    const body = {
      model: 'glm-4-flash',
      messages: [
        { role: 'system', content: `jwt ${system}` },
        { role: 'user', content: 'q' },
      ],
    };
    const first = jwt(Date.now() - 1000);
    const second = jwt(Date.now());
    assert.notEqual(first, second);
    await ask(zp, first, body);
    const again = await ask(zp, second, body);
    assert.ok(again.usage.prompt_tokens_details?.cached_tokens >= 1024, JSON.stringify(again.usage));
  });

  test('the first token waits for the uncached tokens: a cold long prompt is slower than a short one and than a cached one', async () => {
    const rates = optionPath({ prefill_ms_per_token: 0.2, cached_ms_per_token: 0.001, first_token_ms: 20 });
    const long = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: 'x' },
      ],
    };
    const short = { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] };
    const cold = await ask(rates + OA, 'timing', long); // ~1,500 tokens × 0.2 ms ≈ 300 ms + 20
    const warm = await ask(rates + OA, 'timing', long); // ~100 uncached × 0.2 + 1,408 × 0.001 ≈ 41 ms + 20
    const tiny = await ask(rates + OA, 'timing', short); // ~10 tokens ≈ 22 ms
    assert.ok(warm.usage.prompt_tokens_details.cached_tokens > 1024);
    assert.ok(cold.ttfbMs >= 250, `cold long prompt: ${cold.ttfbMs} ms`);
    assert.ok(cold.ttfbMs > warm.ttfbMs + 150, `cold ${cold.ttfbMs} ms vs cached ${warm.ttfbMs} ms`);
    assert.ok(cold.ttfbMs > tiny.ttfbMs + 150, `cold long ${cold.ttfbMs} ms vs short ${tiny.ttfbMs} ms`);
  });
});
