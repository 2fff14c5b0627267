// AGENTMEM_EGRESS end to end, on both engines: targets refused when an agent is
// configured (400 egress_denied), and — for agents stored before the policy, read again
// after a restart — refused when used: the chat's `error` event, a tool result the model
// reads, an embedder failure. Every refused upstream is a real server here that counts
// the connections it accepts: a refusal means it accepted none.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgentmem, type Agentmem } from '../src/app.ts';
import { configFromEnv } from '../src/config.ts';
import { parseEgress, type EgressPolicy } from '../src/llm/egress.ts';
import { startEmulator } from '../src/emulator/server.ts';
import { apiClient, chatOf, createTestDatabase, engines, streamChat, type Api } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

/** A tool / embedder backend that answers anything and counts what it accepted. */
async function countingServer() {
  let connections = 0;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.end('{"ok":true}');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

for (const engine of engines) {
  describe(`egress on ${engine}`, () => {
    // One database and data dir (the sealed secrets' key) across restarts with different policies.
    const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-egress-'));
    const key = 'am_test_' + randomBytes(16).toString('hex');
    let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
    let emu: Emulator;
    let other: Emulator;
    let backend: Awaited<ReturnType<typeof countingServer>>;
    const stored: Record<'named' | 'other' | 'tooled' | 'embedding', string> = { named: '', other: '', tooled: '', embedding: '' };

    const serve = async (egress: EgressPolicy): Promise<{ app: Agentmem; api: Api; url: string; adminKey: string }> => {
      const app = await startAgentmem({
        ...configFromEnv({}),
        port: 0,
        host: '127.0.0.1',
        dataDir,
        bootstrapKey: key,
        logLevel: process.env.AGENTMEM_TEST_LOG ?? 'silent',
        // PGlite in the data dir (kept across restarts), or the test's PostgreSQL database
        databaseUrl: database?.url,
        egress,
      });
      return { app, api: apiClient(app.url, key), url: app.url, adminKey: key };
    };
    const create = async (api: Api, body: object) => api('POST', '/api/v1/agents', { body: { name: 'e', ...body } });
    const llm = (base_url: string) => ({ provider: 'openai-compatible', model: 'm', base_url, api_key: 'sk-x', max_retries: 2 });
    const toolScript = () => `${optionPath({ tool_calls: JSON.stringify([{ name: 'lookup', arguments: { q: 'x' } }]), text: 'Answered anyway.' })}/v1`;

    before(async () => {
      if (engine === 'postgres') database = await createTestDatabase('postgres');
      [emu, other, backend] = await Promise.all([
        startEmulator({ port: 0, profile: 'instant' }),
        startEmulator({ port: 0, profile: 'instant' }),
        countingServer(),
      ]);
      // Agents stored while anything goes (the default): their targets are judged again when used.
      const open = await serve({ kind: 'any' });
      try {
        const made = await Promise.all([
          create(open.api, { llm: llm(`http://localhost:${emu.port}/v1`) }),
          create(open.api, { llm: llm(`${other.url}/v1`) }),
          create(open.api, {
            llm: llm(`${emu.url}${toolScript()}`),
            tools: [{ type: 'http', name: 'lookup', url: `http://127.0.0.1:${backend.port}/lookup`, method: 'POST' }],
          }),
          create(open.api, {
            memory: {
              extract: false,
              recall_budget_ms: 10_000,
              embedder: { provider: 'openai-compatible', model: 'e', dimensions: 64, base_url: `http://localhost:${backend.port}/v1`, api_key: 'k' },
            },
          }),
        ]);
        for (const r of made) assert.equal(r.status, 201, JSON.stringify(r.body));
        [stored.named, stored.other, stored.tooled, stored.embedding] = made.map((r) => r.body.id);
      } finally {
        await open.app.close();
      }
    });
    after(async () => {
      await Promise.all([emu?.close(), other?.close(), backend?.close()]);
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    describe('public', () => {
      let s: Awaited<ReturnType<typeof serve>>;
      let seen: { emu: number; other: number; backend: number };
      before(async () => {
        seen = { emu: emu.connections, other: other.connections, backend: backend.connections };
        s = await serve({ kind: 'public' });
      });
      after(() => s?.app.close());

      test('a config naming loopback, metadata or private targets is a 400 egress_denied that names the path', async () => {
        const refusals: Array<[object, RegExp]> = [
          [{ llm: llm(`http://127.0.0.1:${emu.port}/v1`) }, /llm\.base_url: .*http:\/\/127\.0\.0\.1:\d+.* loopback/],
          [
            { tools: [{ type: 'http', name: 'meta', url: 'http://169.254.169.254/latest/meta-data/' }] },
            /tools\.0\.url: .*169\.254\.169\.254 is a cloud metadata address/,
          ],
          [
            { memory: { embedder: { provider: 'openai-compatible', dimensions: 64, base_url: 'http://10.1.2.3/v1' } } },
            /memory\.embedder\.base_url: .*10\.1\.2\.3 is a private address/,
          ],
          // a hostname is judged by what it resolves to, and the answer names only the host given
          [
            { llm: { provider: 'simulated', fallback: { model: 'f', provider: 'openai-compatible', base_url: `http://localhost:${emu.port}/v1` } } },
            /llm\.fallback\.base_url: .*refused by policy.*: localhost resolves only to addresses the policy refuses/,
          ],
          [
            { tools: [{ type: 'http', name: 'internal', url: `http://localhost:${backend.port}/admin`, headers: { 'x-api-key': 'k' } }] },
            /tools\.0\.url: Egress to http:\/\/localhost:\d+ is refused by policy/,
          ],
        ];
        for (const [body, message] of refusals) {
          const res = await create(s.api, body);
          assert.equal(res.status, 400, JSON.stringify(res.body));
          assert.equal(res.body.error.code, 'egress_denied');
          assert.match(res.body.error.message, /refused by policy/);
          assert.match(res.body.error.message, message);
        }
        for (const body of refusals.slice(-2).map(([b]) => b)) {
          const res = await create(s.api, body);
          // what localhost resolves to (127.0.0.1, ::1) is the operator's business, not the tenant's
          assert.doesNotMatch(res.body.error.message, /127\.0\.0\.1|::1|loopback/, res.body.error.message);
        }
        const plain = await create(s.api, {});
        assert.equal(plain.status, 201, 'an agent with no outbound target is fine');
        const patched = await s.api('PATCH', `/api/v1/agents/${plain.body.id}`, { body: { llm: llm(`http://[::1]:${emu.port}/v1`) } });
        assert.equal(patched.status, 400);
        assert.equal(patched.body.error.code, 'egress_denied');
        assert.match(patched.body.error.message, /llm\.base_url: .*::1 is a loopback address/);
        assert.equal((await s.api('GET', `/api/v1/agents/${plain.body.id}`)).body.llm.provider, 'simulated', 'the refused PATCH changed nothing');
        const { events } = await streamChat(s, plain.body.id, { message: 'hi' });
        assert.equal(events.at(-1).chunk_type, 'done', 'the simulated model needs no egress');
      });

      test('a stored agent whose provider resolves to loopback: the chat ends in an error event egress_denied, and the provider saw nothing', async () => {
        const { res, events } = await streamChat(s, stored.named, { message: 'Hello?' });
        assert.equal(res.status, 200);
        assert.deepEqual(
          events.map((e) => e.chunk_type),
          ['start', 'error'],
        );
        const error = events.at(-1);
        assert.equal(error.code, 'egress_denied');
        assert.equal(error.retryable, false);
        assert.match(error.message, /http:\/\/localhost:\d+ is refused by policy.*localhost resolves only to addresses the policy refuses/);
        assert.doesNotMatch(error.message, /127\.0\.0\.1|::1|loopback/, 'the resolved address is not told');
        const messages = (await s.api('GET', `/api/v1/sessions/${events[0].session_id}/messages`)).body.data;
        assert.equal(messages.at(-1).error.code, 'egress_denied', 'the stored answer says why it failed');
        const json = await s.api('POST', `/api/v1/agents/${stored.named}/chat`, { body: { message: 'Hello?' } });
        assert.equal(json.status, 400, 'the JSON chat: a client error, not a provider fault');
        assert.equal(json.body.error.code, 'egress_denied');
        assert.equal(emu.connections, seen.emu, 'the emulator accepted no connection (not even the start-up warming)');
      });

      test('a stored agent whose embedder is refused: recall is skipped, the memories API answers 400 egress_denied', async () => {
        const { events } = await streamChat(s, stored.embedding, { message: 'What do you know about me?', user_id: 'u1' });
        const done = events.at(-1);
        assert.equal(done.chunk_type, 'done', 'the turn goes on without recall');
        assert.equal(done.timings.skipped?.recall, 'error');
        const added = await s.api('POST', '/api/v1/memories', { body: { content: 'Likes tea', agent_id: stored.embedding, user_id: 'u1' } });
        assert.equal(added.status, 400);
        assert.equal(added.body.error.code, 'egress_denied');
        assert.match(added.body.error.message, /memory\.embedder .*refused by policy.*localhost resolves only to addresses the policy refuses/);
        assert.doesNotMatch(added.body.error.message, /127\.0\.0\.1|::1|loopback/, 'the resolved address is not told');
        const searched = await s.api('POST', '/api/v1/memories/search', { body: { query: 'tea', agent_id: stored.embedding } });
        assert.equal(searched.status, 400);
        assert.equal(searched.body.error.code, 'egress_denied');
        assert.equal(backend.connections, seen.backend, 'the embedder accepted no connection');
      });
    });

    describe('allow-list', () => {
      let s: Awaited<ReturnType<typeof serve>>;
      let seen: { other: number; backend: number };
      before(async () => {
        seen = { other: other.connections, backend: backend.connections };
        s = await serve(parseEgress(emu.url));
      });
      after(() => s?.app.close());

      test('the listed provider works; another origin is refused at config and at use, and receives nothing', async () => {
        const ok = await create(s.api, { llm: llm(`${emu.url}/~text=Allowed./v1`) });
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
        const { events, text } = await streamChat(s, ok.body.id, { message: 'hi' });
        assert.equal(events.at(-1).chunk_type, 'done');
        assert.equal(text, 'Allowed.');

        const refused = await create(s.api, { llm: llm(`${other.url}/v1`) });
        assert.equal(refused.status, 400);
        assert.equal(refused.body.error.code, 'egress_denied');
        assert.match(refused.body.error.message, new RegExp(`llm\\.base_url: .*http://127\\.0\\.0\\.1:${other.port} is not in the allow-list`));
        const tool = await create(s.api, { llm: llm(`${emu.url}/v1`), tools: [{ type: 'http', name: 't', url: `http://127.0.0.1:${backend.port}/x` }] });
        assert.equal(tool.status, 400);
        assert.match(tool.body.error.message, /tools\.0\.url: .*not in the allow-list/);

        const used = await streamChat(s, stored.other, { message: 'hi' });
        assert.deepEqual(
          used.events.map((e) => e.chunk_type),
          ['start', 'error'],
        );
        assert.equal(used.events.at(-1).code, 'egress_denied');
        assert.equal(used.events.at(-1).retryable, false);
        // localhost is another origin than 127.0.0.1, even on the same port
        assert.equal((await streamChat(s, stored.named, { message: 'hi' })).events.at(-1).code, 'egress_denied');
        assert.equal(other.connections, seen.other, 'the second emulator accepted no connection');
        assert.equal(other.requests.filter((r) => r.method === 'POST').length, 0);
      });

      test('a stored tool at a refused origin: the model gets a tool result with the error, the tool server nothing', async () => {
        const { events, text } = await streamChat(s, stored.tooled, { message: 'Look it up' });
        assert.deepEqual(
          events.map((e) => e.chunk_type).filter((k) => k !== 'content'),
          ['start', 'tool_call', 'tool_result', 'done'],
        );
        const result = events.find((e) => e.chunk_type === 'tool_result');
        assert.equal(result.output, undefined);
        assert.match(result.error, /The tool was not called: .*http:\/\/127\.0\.0\.1:\d+ is not in the allow-list/);
        assert.equal(text, 'Answered anyway.');
        // The model's second request carried the error as the tool's answer.
        const second = emu.requests.filter((r) => chatOf(r)?.messages?.some((m) => m.role === 'tool')).at(-1);
        assert.match(chatOf(second!).messages.find((m) => m.role === 'tool')!.content, /^Error: The tool was not called/);
        assert.equal(backend.connections, seen.backend, 'the tool server accepted no connection');
        assert.deepEqual(backend.requests, []);
      });
    });
  });
}
