// Secrets stay bound to where they were given, over HTTP on both engines. For each kind
// of stored secret (the model's key, the fallback's key, the embedder's key, an HTTP
// tool's header), an agent is redirected to a second, recording server without giving
// the secret again: the answer no longer lists it, and the recording server never sees
// it. The platform's own keys (OPENAI_API_KEY, ZHIPU_API_KEY) go only to their provider.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { engines, startServer, streamChat, type TestServer } from './harness.ts';

/** An OpenAI-wire embeddings and tool backend that records every request's headers. */
async function recorder() {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url!, headers: req.headers });
      if (req.url!.endsWith('/embeddings')) {
        const { input, dimensions } = JSON.parse(body);
        const data = (input as string[]).map((_, index) => ({
          object: 'embedding',
          index,
          embedding: Array.from({ length: dimensions ?? 16 }, (_, i) => ((i + index) % 7) / 7 + 0.01),
        }));
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ object: 'list', data, model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } }));
      } else res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const carries = (headers: IncomingHttpHeaders | Record<string, unknown>, secret: string) => JSON.stringify(headers).includes(secret);

for (const engine of engines) {
  describe(`secrets bound to their origin on ${engine}`, () => {
    let s: TestServer;
    let emuA: Emulator; // the provider the secrets were given for
    let emuB: Emulator; // somewhere else: records what it receives
    let recA: Awaited<ReturnType<typeof recorder>>;
    let recB: Awaited<ReturnType<typeof recorder>>;
    before(async () => {
      [s, emuA, emuB, recA, recB] = await Promise.all([
        startServer(engine),
        startEmulator({ port: 0, profile: 'instant' }),
        startEmulator({ port: 0, profile: 'instant' }),
        recorder(),
        recorder(),
      ]);
    });
    after(async () => {
      await s?.close();
      await Promise.all([emuA?.close(), emuB?.close(), recA?.close(), recB?.close()]);
    });

    const create = async (body: object) => {
      const res = await s.api('POST', '/api/v1/agents', { body: { name: 'bound', memory: { extract: false }, ...body } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const patch = async (id: string, body: object) => {
      const res = await s.api('PATCH', `/api/v1/agents/${id}`, { body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const chat = async (id: string, message: string) => {
      const r = await streamChat(s, id, { message });
      assert.equal(r.res.status, 200);
      return r;
    };
    const received = (emu: Emulator, message: string) => emu.requests.filter((r) => JSON.stringify(r.body ?? '').includes(message));

    test('llm.api_key: kept across unrelated changes and paths of the same origin, dropped on another origin or provider', async () => {
      const agent = await create({ llm: { provider: 'openai-compatible', model: 'm', base_url: `${emuA.url}/v1`, api_key: 'sk-primary-secret' } });
      assert.deepEqual(agent.secrets, ['llm.api_key']);
      await chat(agent.id, 'first turn');
      assert.equal(received(emuA, 'first turn')[0]!.headers.authorization, 'Bearer sk-primary-secret');

      assert.deepEqual((await patch(agent.id, { name: 'renamed', system_prompt: 'Be brief.' })).secrets, ['llm.api_key']);
      const samePlace = await patch(agent.id, { llm: { base_url: `${emuA.url}/~text=same%20origin/v1` } });
      assert.deepEqual(samePlace.secrets, ['llm.api_key'], 'another path on the same origin keeps the key');
      await chat(agent.id, 'same origin turn');
      assert.equal(received(emuA, 'same origin turn')[0]!.headers.authorization, 'Bearer sk-primary-secret');

      const moved = await patch(agent.id, { llm: { base_url: `${emuB.url}/v1` } });
      assert.deepEqual(moved.secrets, [], 'the answer no longer lists the key');
      assert.deepEqual(moved.dropped_secrets, ['llm.api_key']);
      await chat(agent.id, 'redirected turn');
      const there = received(emuB, 'redirected turn');
      assert.equal(there.length, 1, 'the chat went to the new origin');
      assert.ok(!carries(there[0]!.headers, 'sk-primary-secret'), 'the new origin never sees the key');
      // Moving back does not bring it back: it is gone.
      assert.deepEqual((await patch(agent.id, { llm: { base_url: `${emuA.url}/v1` } })).secrets, []);

      const zhipu = await create({ llm: { provider: 'zhipu', model: 'glm-4-flash', base_url: `${emuA.url}/api/paas/v4`, api_key: 'id.zhipu-secret' } });
      const switched = await patch(zhipu.id, { llm: { provider: 'openai-compatible' } });
      assert.deepEqual([switched.secrets, switched.dropped_secrets], [[], ['llm.api_key']], 'another provider at the same origin drops the key');
    });

    test('llm.fallback.api_key: dropped when the fallback is redirected; a fallback elsewhere never inherits the primary key', async () => {
      const slow = `${emuA.url}/~first_token_ms=5000/v1`;
      const agent = await create({
        llm: {
          provider: 'openai-compatible',
          model: 'slow',
          base_url: slow,
          api_key: 'sk-primary-2',
          fallback: { model: 'fb', base_url: `${emuA.url}/v1`, api_key: 'sk-fallback-secret', after_ms: 50 },
        },
      });
      assert.deepEqual(agent.secrets.sort(), ['llm.api_key', 'llm.fallback.api_key']);
      const moved = await patch(agent.id, { llm: { fallback: { base_url: `${emuB.url}/v1` } } });
      assert.deepEqual(moved.secrets, ['llm.api_key']);
      assert.deepEqual(moved.dropped_secrets, ['llm.fallback.api_key']);
      // Without a key the new origin refuses (401) and the slow primary answers: what matters is what it was sent.
      await chat(agent.id, 'fallback turn');
      const there = received(emuB, 'fallback turn');
      assert.equal(there.length, 1);
      assert.ok(!carries(there[0]!.headers, 'sk-fallback-secret') && !carries(there[0]!.headers, 'sk-primary-2'), JSON.stringify(there[0]!.headers));

      const elsewhere = await create({
        llm: {
          provider: 'openai-compatible',
          model: 'slow',
          base_url: slow,
          api_key: 'sk-primary-3',
          fallback: { model: 'fb', base_url: `${emuB.url}/v1`, after_ms: 50 },
        },
      });
      await chat(elsewhere.id, 'inherit turn');
      const fb = received(emuB, 'inherit turn');
      assert.equal(fb.length, 1);
      assert.ok(!carries(fb[0]!.headers, 'sk-primary-3'), 'the primary key does not follow the fallback to another origin');
    });

    test('memory.embedder.api_key: dropped when the embedder moves; the new embedder never sees it', async () => {
      const agent = await create({
        memory: {
          extract: false,
          embedder: { provider: 'openai-compatible', model: 'e', dimensions: 16, base_url: `${recA.url}/v1`, api_key: 'sk-embed-secret' },
        },
      });
      assert.deepEqual(agent.secrets, ['memory.embedder.api_key']);
      assert.equal((await s.api('POST', '/api/v1/memories', { body: { content: 'Ada likes tea', agent_id: agent.id, user_id: 'ada' } })).status, 201);
      assert.equal(recA.seen.at(-1)!.headers.authorization, 'Bearer sk-embed-secret');
      const before = recB.seen.length;
      const moved = await patch(agent.id, { memory: { embedder: { base_url: `${recB.url}/v1` } } });
      assert.deepEqual([moved.secrets, moved.dropped_secrets], [[], ['memory.embedder.api_key']]);
      assert.equal((await s.api('POST', '/api/v1/memories', { body: { content: 'Ada moved', agent_id: agent.id, user_id: 'ada' } })).status, 201);
      assert.equal((await s.api('POST', '/api/v1/memories/search', { body: { query: 'tea', agent_id: agent.id, user_id: 'ada' } })).status, 200);
      const there = recB.seen.slice(before);
      assert.ok(there.length >= 2, 'the new embedder was called');
      assert.ok(
        there.every((r) => !carries(r.headers, 'sk-embed-secret')),
        'it never saw the old key',
      );
    });

    test("tools' secret headers: follow the tool by name, dropped when its URL moves origin or when set to null", async () => {
      const call = encodeURIComponent(JSON.stringify([{ name: 'lookup', arguments: { q: 'x' } }]));
      const tool = (url: string, headers: object = {}) => ({ type: 'http', name: 'lookup', url, method: 'POST', headers });
      const agent = await create({
        llm: { provider: 'openai-compatible', model: 'm', base_url: `${emuA.url}/~tool_calls=${call}/~text=ok/v1`, api_key: 'sk-tools' },
        tools: [tool(`${recA.url}/lookup`, { 'x-api-key': 'tool-secret-header' })],
      });
      assert.deepEqual(agent.secrets.sort(), ['llm.api_key', 'tools.0.headers.x-api-key']);
      const kept = await patch(agent.id, { tools: [{ type: 'memory_search' }, tool(`${recA.url}/other-path`)] });
      assert.deepEqual(kept.secrets.sort(), ['llm.api_key', 'tools.1.headers.x-api-key'], 'the header followed the tool by name');
      await chat(agent.id, 'tool turn A');
      assert.equal(recA.seen.at(-1)!.headers['x-api-key'], 'tool-secret-header');

      const before = recB.seen.length;
      const moved = await patch(agent.id, { tools: [tool(`${recB.url}/lookup`)] });
      assert.deepEqual([moved.secrets, moved.dropped_secrets], [['llm.api_key'], ['tools.1.headers.x-api-key']]);
      await chat(agent.id, 'tool turn B');
      const there = recB.seen.slice(before);
      assert.equal(there.length, 1, 'the tool at the new origin was called');
      assert.ok(!carries(there[0]!.headers, 'tool-secret-header'));

      const again = await patch(agent.id, { tools: [tool(`${recB.url}/lookup`, { 'x-api-key': 'new-secret' })] });
      assert.deepEqual(again.secrets.sort(), ['llm.api_key', 'tools.0.headers.x-api-key'], 'given again: stored for the new origin');
      const removed = await patch(agent.id, { tools: [tool(`${recB.url}/lookup`, { 'x-api-key': null })] });
      assert.deepEqual([removed.secrets, removed.dropped_secrets], [['llm.api_key'], ['tools.0.headers.x-api-key']]);
    });
  });

  describe(`platform provider keys only for their provider on ${engine}`, () => {
    let s: TestServer;
    let provider: Emulator; // OPENAI_BASE_URL
    let other: Emulator;
    let zhipuEmbeddings: Awaited<ReturnType<typeof recorder>>; // ZHIPU_BASE_URL
    let otherEmbeddings: Awaited<ReturnType<typeof recorder>>;
    before(async () => {
      [provider, other, zhipuEmbeddings, otherEmbeddings] = await Promise.all([
        startEmulator({ port: 0, profile: 'instant' }),
        startEmulator({ port: 0, profile: 'instant' }),
        recorder(),
        recorder(),
      ]);
      s = await startServer(engine, {
        openaiApiKey: 'sk-platform-openai',
        openaiBaseUrl: `${provider.url}/v1`,
        zhipuApiKey: 'platform.zhipu-secret',
        zhipuBaseUrl: `${zhipuEmbeddings.url}/api/paas/v4`,
      });
    });
    after(async () => {
      await s?.close();
      await Promise.all([provider?.close(), other?.close(), zhipuEmbeddings?.close(), otherEmbeddings?.close()]);
    });

    test("chat: the platform key goes to OPENAI_BASE_URL, never to a tenant's own base_url", async () => {
      const own = (
        await s.api('POST', '/api/v1/agents', {
          body: { name: 'default endpoint', llm: { provider: 'openai-compatible', model: 'm' }, memory: { extract: false } },
        })
      ).body;
      await streamChat(s, own.id, { message: 'platform turn' });
      const mine = provider.requests.filter((r) => JSON.stringify(r.body).includes('platform turn'));
      assert.equal(mine[0]!.headers.authorization, 'Bearer sk-platform-openai');

      const tenant = (
        await s.api('POST', '/api/v1/agents', {
          body: { name: 'tenant endpoint', llm: { provider: 'openai-compatible', model: 'm', base_url: `${other.url}/v1` }, memory: { extract: false } },
        })
      ).body;
      await streamChat(s, tenant.id, { message: 'tenant turn' });
      const theirs = other.requests.filter((r) => JSON.stringify(r.body).includes('tenant turn'));
      assert.equal(theirs.length, 1);
      assert.ok(!carries(theirs[0]!.headers, 'sk-platform-openai'), JSON.stringify(theirs[0]!.headers));
    });

    test("embeddings: the platform key goes to ZHIPU_BASE_URL, never to a tenant's own base_url", async () => {
      const own = (
        await s.api('POST', '/api/v1/agents', { body: { name: 'e1', memory: { extract: false, embedder: { provider: 'zhipu', dimensions: 256 } } } })
      ).body;
      assert.equal((await s.api('POST', '/api/v1/memories', { body: { content: 'x', agent_id: own.id } })).status, 201);
      assert.equal(zhipuEmbeddings.seen.at(-1)!.headers.authorization, 'Bearer platform.zhipu-secret');
      const tenant = (
        await s.api('POST', '/api/v1/agents', {
          body: { name: 'e2', memory: { extract: false, embedder: { provider: 'zhipu', dimensions: 256, base_url: `${otherEmbeddings.url}/api/paas/v4` } } },
        })
      ).body;
      assert.equal((await s.api('POST', '/api/v1/memories', { body: { content: 'y', agent_id: tenant.id } })).status, 201);
      assert.equal(otherEmbeddings.seen.length, 1);
      assert.ok(!carries(otherEmbeddings.seen[0]!.headers, 'platform.zhipu-secret'));
    });
  });
}
