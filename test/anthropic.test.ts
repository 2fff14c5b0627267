// An agent on Anthropic's Messages API (llm.provider "anthropic"), over real sockets on
// both engines, with the emulator speaking the real wire format at /v1/messages: the
// text streams, a tool call goes round (tool_use out, tool_result back), thinking comes as
// `reasoning`, the prompt carries cache_control breakpoints so the second turn of a long
// prompt reads the cache (done.usage.cached_prompt_tokens), upstream failures become our `error`
// event, and the keys go only where they were given for (ANTHROPIC_API_KEY to
// ANTHROPIC_BASE_URL only), never echoed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { optionPath } from '../src/emulator/options.ts';
import { startEmulator, type Emulator, type RecordedRequest } from '../src/emulator/server.ts';
import { parseEgress } from '../src/llm/egress.ts';
import { engines, startServer, streamChat, type TestServer } from './harness.ts';

const AGENT_KEY = 'sk-ant-agent-0123456789';
const PLATFORM_KEY = 'sk-ant-platform-9876543210';
/** A content block of a Messages API request (the fields these tests read). */
interface SentBlock {
  type: string;
  text?: string;
  cache_control?: { type: string };
  thinking?: string;
  signature?: string;
  tool_use_id?: string;
}

/** The Messages API request agentmem sent upstream. */
interface SentMessages {
  model: string;
  max_tokens: number;
  stream: boolean;
  temperature?: number;
  system: SentBlock[];
  messages: Array<{ role: string; content: SentBlock[] }>;
  tools?: Array<{ name: string; input_schema: { type: string } }>;
  thinking?: { type: string; budget_tokens: number };
}

const LONG_SYSTEM = 'You are a careful assistant. ' + 'Always answer in full sentences and check the facts you state. '.repeat(150); // ~1,800 tokens

for (const engine of engines) {
  describe(`Anthropic provider on ${engine}`, () => {
    let s: TestServer;
    let anthropic: Emulator; // ANTHROPIC_BASE_URL
    let other: Emulator;
    before(async () => {
      [anthropic, other] = await Promise.all([
        startEmulator({ port: 0, profile: 'instant', anthropicKeys: [AGENT_KEY, PLATFORM_KEY] }),
        startEmulator({ port: 0, profile: 'instant' }),
      ]);
      s = await startServer(engine, { anthropicApiKey: PLATFORM_KEY, anthropicBaseUrl: anthropic.url });
    });
    after(async () => {
      await s?.close();
      await Promise.all([anthropic?.close(), other?.close()]);
    });

    async function agent(llm: object, extra: object = {}) {
      const res = await s.api('POST', '/api/v1/agents', {
        body: { name: 'claude', llm: { provider: 'anthropic', model: 'claude-sonnet-4-5', max_retries: 0, ...llm }, memory: { extract: false }, ...extra },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    }
    const sent = (emu: Emulator, text: string): RecordedRequest[] => emu.requests.filter((r) => JSON.stringify(r.body).includes(text));
    const bodyOf = (r: RecordedRequest) => r.body as SentMessages;

    test('a streamed chat: the Messages wire format out, text and usage back', async () => {
      const a = await agent({ api_key: AGENT_KEY, base_url: `${anthropic.url}${optionPath({ text: 'Bonjour, 世界! 👋' })}`, temperature: 0.3 });
      assert.equal(a.llm.api_key, undefined, 'the key is not returned');
      const { events, text } = await streamChat(s, a.id, { message: 'Say hello' });
      assert.equal(text, 'Bonjour, 世界! 👋');
      const done = events.at(-1);
      assert.equal(done.chunk_type, 'done', JSON.stringify(done));
      assert.equal(done.finish_reason, 'stop');
      assert.ok(done.usage.prompt_tokens > 0 && done.usage.completion_tokens > 0, JSON.stringify(done.usage));
      assert.equal(done.usage.total_tokens, done.usage.prompt_tokens + done.usage.completion_tokens);

      const [req] = sent(anthropic, 'Say hello');
      assert.ok(req!.path.endsWith('/v1/messages'));
      assert.equal(req!.headers['x-api-key'], AGENT_KEY);
      assert.equal(req!.headers['anthropic-version'], '2023-06-01');
      assert.equal(req!.headers.authorization, undefined, 'no bearer: the key travels in x-api-key only');
      const body = bodyOf(req!);
      assert.deepEqual([body.model, body.max_tokens, body.stream, body.temperature], ['claude-sonnet-4-5', 4096, true, 0.3]);
      assert.deepEqual(body.system, [{ type: 'text', text: 'You are a helpful assistant.', cache_control: { type: 'ephemeral' } }]);
      assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }] }]);
    });

    test('llm.max_tokens reached: stop_reason max_tokens is finish_reason length', async () => {
      const a = await agent({ api_key: AGENT_KEY, base_url: `${anthropic.url}${optionPath({ text: 'one two three four five six' })}`, max_tokens: 2 });
      const { events, text } = await streamChat(s, a.id, { message: 'count to six please' });
      assert.equal(text, 'one two ');
      assert.equal(events.at(-1).finish_reason, 'length');
      assert.equal(bodyOf(sent(anthropic, 'count to six please')[0]!).max_tokens, 2);
    });

    test('a tool call round trip: tool_use out of the stream, tool_result back in a user turn', async () => {
      const calls = JSON.stringify([{ name: 'memory_search', arguments: { query: 'favourite colour' } }]);
      const a = await agent(
        { api_key: AGENT_KEY, base_url: `${anthropic.url}${optionPath({ tool_calls: calls, text: 'Found nothing.' })}` },
        { tools: [{ type: 'memory_search' }] },
      );
      const { events, text } = await streamChat(s, a.id, { message: 'What colour do I like?' });
      const kinds = events.map((e) => e.chunk_type).filter((k) => k !== 'content');
      assert.deepEqual(kinds, ['start', 'tool_call', 'tool_result', 'done'], JSON.stringify(events));
      const call = events.find((e) => e.chunk_type === 'tool_call');
      assert.match(call.call_id, /^toolu_01/);
      assert.deepEqual([call.name, JSON.parse(call.arguments)], ['memory_search', { query: 'favourite colour' }]);
      assert.equal(text, 'Found nothing.');
      const usage = events.at(-1).usage;
      assert.equal(usage.cached_prompt_tokens, 0, 'both steps counted, the cache field kept');
      assert.ok(usage.prompt_tokens > 0);

      const [first, second] = sent(anthropic, 'What colour do I like?');
      const tools = bodyOf(first!).tools!;
      assert.equal(tools[0]!.name, 'memory_search');
      assert.equal(tools[0]!.input_schema.type, 'object');
      assert.ok(!('parameters' in tools[0]!) && !('function' in tools[0]!));
      const msgs = bodyOf(second!).messages;
      assert.deepEqual(msgs.at(-2), {
        role: 'assistant',
        content: [{ type: 'tool_use', id: call.call_id, name: 'memory_search', input: { query: 'favourite colour' } }],
      });
      assert.equal(msgs.at(-1)!.role, 'user');
      assert.deepEqual([msgs.at(-1)!.content[0]!.type, msgs.at(-1)!.content[0]!.tool_use_id], ['tool_result', call.call_id]);
    });

    test('llm.thinking: thinking enabled with a budget below max_tokens, streamed as reasoning', async () => {
      const a = await agent({ api_key: AGENT_KEY, base_url: `${anthropic.url}${optionPath({ text: 'Forty-two.' })}`, thinking: 'enabled', temperature: 0.5 });
      const { events, text } = await streamChat(s, a.id, { message: 'Think first' });
      const reasoning = events.filter((e) => e.chunk_type === 'reasoning').map((e) => e.content);
      assert.match(reasoning.join(''), /The user wrote "Think first"/);
      assert.equal(text, 'Forty-two.');
      const body = bodyOf(sent(anthropic, 'Think first')[0]!);
      assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 2048 });
      assert.ok(body.thinking!.budget_tokens < body.max_tokens);
      assert.equal(body.temperature, undefined, 'thinking takes no temperature');
    });

    test('llm.thinking with a tool call: the thinking blocks (signature intact) go back before the tool_use in the next step', async () => {
      const calls = JSON.stringify([{ name: 'memory_search', arguments: { query: 'x' } }]);
      const a = await agent(
        { api_key: AGENT_KEY, base_url: `${anthropic.url}${optionPath({ tool_calls: calls, text: 'Done.' })}`, thinking: 'enabled' },
        { tools: [{ type: 'memory_search' }] },
      );
      const { text } = await streamChat(s, a.id, { message: 'Think, then search' });
      assert.equal(text, 'Done.');
      const [, second] = sent(anthropic, 'Think, then search');
      const body = bodyOf(second!);
      assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 2048 }, 'thinking stays on through the tool loop');
      const asked = body.messages.at(-2)!.content;
      assert.deepEqual(
        asked.map((b) => b.type),
        ['thinking', 'tool_use'],
      );
      assert.match(asked[0]!.thinking!, /Think, then search/);
      assert.ok(asked[0]!.signature!.length > 20, 'the signature goes back as it came');
    });

    test('prompt caching: the second turn of a long prompt reads the prefix the first wrote (done.usage.cached_prompt_tokens)', async () => {
      const a = await agent(
        { api_key: AGENT_KEY, base_url: anthropic.url },
        { system_prompt: LONG_SYSTEM, memory: { extract: false, semantic_recall: { enabled: false } } },
      );
      const one = await streamChat(s, a.id, { message: 'First question about caching' });
      const u1 = one.events.at(-1).usage;
      assert.ok(u1.prompt_tokens > 1_500, JSON.stringify(u1));
      assert.equal(u1.cached_prompt_tokens, 0);
      const sessionId = one.events[0].session_id;
      const two = await streamChat(s, a.id, { message: 'Second question about caching', session_id: sessionId });
      const u2 = two.events.at(-1).usage;
      assert.ok(u2.cached_prompt_tokens >= 1_500, JSON.stringify(u2));
      assert.ok(u2.prompt_tokens > u2.cached_prompt_tokens);

      // the breakpoints: the system prompt's end, and the end of the history before this turn's message
      const body = bodyOf(sent(anthropic, 'Second question about caching')[0]!);
      assert.deepEqual(body.system.at(-1)!.cache_control, { type: 'ephemeral' });
      const marked = body.messages.flatMap((m, i) => m.content.filter((b) => b.cache_control).map(() => i));
      assert.deepEqual(marked, [body.messages.length - 2], JSON.stringify(body.messages));
      assert.equal(body.messages.at(-2)!.role, 'assistant');
      assert.ok(!JSON.stringify(body.messages.at(-1)).includes('cache_control'));
    });

    test('prompt caching with memory on: the recalled memories sit beside the message, so a turn that recalls others still reads the cache', async () => {
      const a = await agent(
        { api_key: AGENT_KEY, base_url: anthropic.url },
        { system_prompt: LONG_SYSTEM, memory: { extract: false, semantic_recall: { top_k: 1 } } },
      );
      for (const content of ['The user likes green tea', 'The user lives in Lyon'])
        assert.equal((await s.api('POST', '/api/v1/memories', { body: { content, agent_id: a.id, user_id: 'u-cache' } })).status, 201);
      const one = await streamChat(s, a.id, { message: 'Which tea do I like?', user_id: 'u-cache' });
      const sessionId = one.events[0].session_id;
      const two = await streamChat(s, a.id, { message: 'Where do I live, which city?', user_id: 'u-cache', session_id: sessionId });
      const [first] = sent(anthropic, 'Which tea do I like?');
      const [second] = sent(anthropic, 'Where do I live, which city?');
      const lastText = (r: RecordedRequest) =>
        bodyOf(r)
          .messages.at(-1)!
          .content.map((b) => b.text)
          .join('');
      assert.match(lastText(first!), /green tea/);
      assert.match(lastText(second!), /Lyon/);
      assert.deepEqual(bodyOf(second!).system, bodyOf(first!).system, 'the system prompt stays put');
      assert.ok(two.events.at(-1).usage.cached_prompt_tokens >= 1_500, JSON.stringify(two.events.at(-1).usage));
    });

    test('a 20-turn session with memory recall on: from the second turn, at least 90 % of the prompt is read from the cache', async () => {
      const a = await agent(
        { api_key: AGENT_KEY, base_url: anthropic.url },
        { system_prompt: LONG_SYSTEM, memory: { extract: false, last_messages: 40, semantic_recall: { top_k: 3 } } },
      );
      for (const c of ['likes green tea', 'lives in Lyon', 'has a cat named Miso', 'works as a nurse', 'plays the cello', 'runs on Sundays'])
        await s.api('POST', '/api/v1/memories', { body: { content: `The user ${c}`, agent_id: a.id, user_id: 'u-session' } });
      const topics = ['tea', 'city', 'cat', 'job', 'music', 'sport'];
      let sessionId: string | undefined;
      const turns: Array<{ prompt_tokens: number; cached_prompt_tokens: number }> = [];
      for (let i = 1; i <= 20; i++) {
        const message = `Turn ${i}: tell me about my ${topics[i % topics.length]} again, please.`;
        const r = await streamChat(s, a.id, { message, user_id: 'u-session', ...(sessionId ? { session_id: sessionId } : {}) });
        sessionId ??= r.events[0].session_id;
        turns.push(r.events.at(-1).usage);
      }
      const later = turns.slice(1);
      const share = later.reduce((n, u) => n + u.cached_prompt_tokens, 0) / later.reduce((n, u) => n + u.prompt_tokens, 0);
      assert.ok(share >= 0.9, `cached share ${(share * 100).toFixed(1)} %: ${JSON.stringify(turns)}`);
      assert.ok(
        later.every((u) => u.cached_prompt_tokens > 0),
        'every turn reads',
      );
    });

    test('fallback: a silent OpenAI-compatible primary gives way to Claude; each key only to its own provider', async () => {
      const res = await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'racing',
          memory: { extract: false },
          llm: {
            provider: 'openai-compatible',
            model: 'gpt-4o-mini',
            base_url: `${other.url}${optionPath({ fault: 'hang_before_first_token' })}/v1`,
            api_key: 'sk-openai-primary-secret',
            max_retries: 0,
            fallback: {
              provider: 'anthropic',
              model: 'claude-haiku-4-5',
              base_url: `${anthropic.url}${optionPath({ text: 'Claude stepped in.' })}`,
              api_key: AGENT_KEY,
              after_ms: 50,
            },
          },
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.llm.fallback.api_key, undefined);
      const { events, text } = await streamChat(s, res.body.id, { message: 'race me' });
      assert.equal(text, 'Claude stepped in.');
      assert.equal(events.at(-1).model, 'claude-haiku-4-5');
      const [claude] = sent(anthropic, 'race me');
      assert.equal(claude!.headers['x-api-key'], AGENT_KEY);
      assert.ok(!JSON.stringify(claude!.headers).includes('sk-openai-primary-secret'), "the primary's key stays with the primary");
      const [primary] = sent(other, 'race me');
      assert.equal(primary!.headers.authorization, 'Bearer sk-openai-primary-secret');
      assert.equal(primary!.headers['x-api-key'], undefined);
    });

    test("upstream errors become the `error` event with Anthropic's meaning", async () => {
      const overloaded = await agent({ api_key: AGENT_KEY, base_url: `${anthropic.url}${optionPath({ fault: '503' })}` });
      const e1 = (await streamChat(s, overloaded.id, { message: 'overloaded?' })).events.at(-1);
      assert.equal(e1.chunk_type, 'error');
      assert.deepEqual([e1.code, e1.retryable], ['upstream_unavailable', true]);
      assert.match(e1.message, /529 overloaded_error: Overloaded/);

      const midway = await agent({
        api_key: AGENT_KEY,
        base_url: `${anthropic.url}${optionPath({ fault: 'error_event', text: 'one two three four five six' })}`,
      });
      const r2 = await streamChat(s, midway.id, { message: 'midway?' });
      assert.ok(r2.text.length > 0, 'some text came first');
      assert.deepEqual([r2.events.at(-1).chunk_type, r2.events.at(-1).code], ['error', 'upstream_unavailable']);

      const wrongKey = await agent({ api_key: 'sk-ant-not-accepted-secret', base_url: anthropic.url });
      const e3 = (await streamChat(s, wrongKey.id, { message: 'wrong key?' })).events.at(-1);
      assert.deepEqual([e3.chunk_type, e3.code, e3.retryable], ['error', 'upstream_auth', false]);
      assert.ok(!JSON.stringify(e3).includes('sk-ant-not-accepted-secret'), 'the key is never echoed');
    });

    test("keys go only to their origin: ANTHROPIC_API_KEY to ANTHROPIC_BASE_URL, an agent's key not after a redirect", async () => {
      const platform = await agent({});
      await streamChat(s, platform.id, { message: 'platform turn' });
      assert.equal(sent(anthropic, 'platform turn')[0]!.headers['x-api-key'], PLATFORM_KEY);

      const tenant = await agent({ base_url: other.url });
      const r = await streamChat(s, tenant.id, { message: 'tenant turn' });
      const theirs = sent(other, 'tenant turn');
      assert.equal(theirs.length, 1);
      assert.equal(theirs[0]!.headers['x-api-key'], undefined, "the platform's key never leaves for another origin");
      assert.equal(r.events.at(-1).code, 'upstream_auth');

      const own = await agent({ api_key: AGENT_KEY, base_url: anthropic.url });
      const moved = await s.api('PATCH', `/api/v1/agents/${own.id}`, { body: { llm: { base_url: other.url } } });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      await streamChat(s, own.id, { message: 'moved turn' });
      assert.equal(sent(other, 'moved turn')[0]!.headers['x-api-key'], undefined, 'redirected without the key: the key stays behind');
      assert.ok(!other.requests.some((r) => JSON.stringify(r.headers).includes(AGENT_KEY) || JSON.stringify(r.headers).includes(PLATFORM_KEY)));
    });

    describe('under an egress allow-list that names only the tenant origin', () => {
      let fenced: TestServer;
      before(async () => {
        // ANTHROPIC_BASE_URL is not listed: the platform's own provider is refused too
        fenced = await startServer(engine, { anthropicApiKey: PLATFORM_KEY, anthropicBaseUrl: anthropic.url, egress: parseEgress(other.url) });
      });
      after(() => fenced?.close());

      test('an unlisted base_url is a 400 egress_denied; the default base is refused at use and receives nothing', async () => {
        const named = await fenced.api('POST', '/api/v1/agents', {
          body: { name: 'x', llm: { provider: 'anthropic', model: 'claude-sonnet-4-5', base_url: anthropic.url, api_key: AGENT_KEY } },
        });
        assert.equal(named.status, 400);
        assert.equal(named.body.error.code, 'egress_denied');
        const byDefault = await fenced.api('POST', '/api/v1/agents', {
          body: { name: 'y', llm: { provider: 'anthropic', model: 'claude-sonnet-4-5', max_retries: 0 }, memory: { extract: false } },
        });
        assert.equal(byDefault.status, 201, JSON.stringify(byDefault.body));
        const before = anthropic.connections;
        const { events } = await streamChat(fenced, byDefault.body.id, { message: 'fenced turn' });
        assert.deepEqual([events.at(-1).chunk_type, events.at(-1).code], ['error', 'egress_denied']);
        assert.equal(anthropic.connections, before, 'not even a connection');
        assert.equal(sent(anthropic, 'fenced turn').length, 0);
      });
    });
  });
}
