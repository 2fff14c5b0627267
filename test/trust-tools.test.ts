// What an agent's tools may carry and see, over real sockets on both engines:
// - a stored secret (an HTTP tool's header, a provider's or embedder's key, an MCP server's
//   header) never reaches another origin through a redirect. `A` is the origin the secrets
//   are given for and answers redirects; `B` is somewhere else and records everything it
//   receives; `C` is an origin the egress policy refuses and counts its connections.
// - the memory tools act for exactly the turn's user: a turn without a user sees and
//   changes nothing of any user's (memory_search, memory_save, working_memory_update).
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { optionPath } from '../src/emulator/options.ts';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { parseEgress } from '../src/llm/egress.ts';
import { engines, sentWith, startServer, streamChat, type MemoryHit, type TestServer } from './harness.ts';

/** A tool_result event: the tool's output, or its error (a test reads the one it expects). */
interface ToolResult {
  chunk_type: string;
  output: string;
  error: string;
}

interface Site {
  url: string;
  seen: Array<{ method: string; path: string; headers: IncomingHttpHeaders; body: string }>;
  connections: number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 recording every request; `redirects` maps a path to the Location it answers with 307. */
async function site(redirects: () => Record<string, string> = () => ({})): Promise<Site> {
  const seen: Site['seen'] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = new URL(req.url!, 'http://x').pathname;
      seen.push({ method: req.method!, path, headers: req.headers, body });
      const to = redirects()[path];
      if (to) res.writeHead(307, { location: to }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ answered: path }));
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
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

const carries = (s: Site, secret: string) => s.seen.filter((r) => JSON.stringify(r.headers).includes(secret));

for (const engine of engines) {
  describe(`trust: tools on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let a: Site;
    let b: Site;
    let c: Site;
    before(async () => {
      [emu, b, c] = await Promise.all([startEmulator({ port: 0, profile: 'instant' }), site(), site()]);
      a = await site(() => ({
        '/hop-to-b': `${b.url}/steal`,
        '/hop-home': '/tool',
        '/hop-to-c': `${c.url}/steal`,
        '/v1/chat/completions': `${b.url}/v1/chat/completions`,
        '/v1/embeddings': `${b.url}/v1/embeddings`,
        '/mcp': `${b.url}/mcp`,
      }));
      // Everything but C is allowed: B receives what a redirect sends it, C nothing at all.
      s = await startServer(engine, { egress: parseEgress([emu.url, a.url, b.url].join(',')) });
    });
    after(async () => {
      await s?.close();
      await Promise.all([emu?.close(), a?.close(), b?.close(), c?.close()]);
    });

    const create = async (body: object) => {
      const res = await s.api('POST', '/api/v1/agents', { body: { name: 'trust', memory: { extract: false }, ...body } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const patch = async (id: string, body: object) => {
      const res = await s.api('PATCH', `/api/v1/agents/${id}`, { body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const calling = (calls: Array<{ name: string; arguments: object }>) => ({
      provider: 'openai-compatible',
      model: 'm',
      api_key: 'sk-emu',
      max_retries: 0,
      base_url: `${emu.url}${optionPath({ tool_calls: JSON.stringify(calls), text: 'Done.' })}/v1`,
    });
    const toolResult = (events: ToolResult[]) => events.find((e) => e.chunk_type === 'tool_result')!;
    const httpTool = (url: string, headers: object = {}) => ({ type: 'http', name: 'lookup', url, method: 'POST', headers });

    describe('no stored secret rides a redirect to another origin', () => {
      test("an HTTP tool's header: PATCHed to a same-origin path that redirects to B, B gets the call without it", async () => {
        const agent = await create({
          llm: calling([{ name: 'lookup', arguments: { q: 'x' } }]),
          tools: [httpTool(`${a.url}/tool`, { 'x-api-key': 'tool-secret-1' })],
        });
        await streamChat(s, agent.id, { message: 'first' });
        assert.equal(a.seen.at(-1)!.headers['x-api-key'], 'tool-secret-1', 'the tool gets its header');

        // A path on the same origin: the secret is kept (it is bound to the origin).
        const moved = await patch(agent.id, { tools: [httpTool(`${a.url}/hop-to-b`)] });
        assert.deepEqual(moved.secrets.sort(), ['llm.api_key', 'tools.0.headers.x-api-key']);
        const { events } = await streamChat(s, agent.id, { message: 'second' });
        assert.equal(a.seen.at(-1)!.path, '/hop-to-b');
        assert.equal(a.seen.at(-1)!.headers['x-api-key'], 'tool-secret-1', 'A, its own origin, still gets it');
        const stolen = b.seen.filter((r) => r.path === '/steal');
        assert.equal(stolen.length, 1, 'the redirect was followed');
        assert.equal(stolen[0]!.method, 'POST', 'a 307 keeps the method');
        assert.deepEqual(JSON.parse(stolen[0]!.body), { q: 'x' });
        assert.deepEqual(carries(b, 'tool-secret-1'), [], 'B never saw the header');
        assert.deepEqual(JSON.parse(toolResult(events).output), { answered: '/steal' });
      });

      test('a redirect within the origin keeps the header; one to an origin the egress policy refuses is not followed', async () => {
        const agent = await create({
          llm: calling([{ name: 'lookup', arguments: { q: 'y' } }]),
          tools: [httpTool(`${a.url}/hop-home`, { 'x-api-key': 'tool-secret-2' })],
        });
        const home = await streamChat(s, agent.id, { message: 'home' });
        assert.deepEqual(JSON.parse(toolResult(home.events).output), { answered: '/tool' });
        assert.deepEqual(
          a.seen.slice(-2).map((r) => [r.path, r.headers['x-api-key']]),
          [
            ['/hop-home', 'tool-secret-2'],
            ['/tool', 'tool-secret-2'],
          ],
        );

        await patch(agent.id, { tools: [httpTool(`${a.url}/hop-to-c`)] });
        const refused = await streamChat(s, agent.id, { message: 'to C' });
        assert.equal(refused.events.at(-1).chunk_type, 'done', 'the turn goes on');
        assert.match(toolResult(refused.events).error, /^The tool's redirect to http:\/\/127\.0\.0\.1:\d+ was not followed: .*refused by policy/);
        assert.equal(c.connections, 0, 'C accepted no connection');
      });

      test('model providers, embedders and MCP servers follow no redirect: B never sees their secrets', async () => {
        const before = b.seen.length;
        const provider = await create({
          llm: { provider: 'openai-compatible', model: 'm', base_url: `${a.url}/v1`, api_key: 'sk-provider-secret', max_retries: 0 },
        });
        const chat = await streamChat(s, provider.id, { message: 'hello' });
        assert.equal(chat.events.at(-1).chunk_type, 'error', 'a redirect is an upstream error, not followed');
        const asked = a.seen.filter((r) => r.path === '/v1/chat/completions');
        assert.equal(asked.at(-1)?.headers.authorization, 'Bearer sk-provider-secret', 'A was asked');

        const embedded = await create({
          memory: {
            extract: false,
            embedder: { provider: 'openai-compatible', model: 'e', dimensions: 64, base_url: `${a.url}/v1`, api_key: 'sk-embed-secret' },
          },
        });
        const added = await s.api('POST', '/api/v1/memories', { body: { content: 'Likes tea', agent_id: embedded.id, user_id: 'u1' } });
        assert.ok(added.status >= 400, `the embedder's redirect is a failure (${added.status})`);
        assert.ok(carries(a, 'sk-embed-secret').length > 0, 'A was asked');

        const mcp = await create({
          llm: calling([{ name: 'calc__add', arguments: { a: 1, b: 2 } }]),
          tools: [{ type: 'mcp', name: 'calc', url: `${a.url}/mcp`, headers: { 'x-mcp-key': 'mcp-secret' } }],
        });
        const mcpTurn = await streamChat(s, mcp.id, { message: 'add' });
        assert.equal(mcpTurn.events.at(-1).chunk_type, 'done');
        assert.ok(carries(a, 'mcp-secret').length > 0, 'A was asked');

        assert.deepEqual(b.seen.slice(before), [], 'B received nothing at all');
      });
    });

    describe('memory tools act for exactly the turn\u2019s user', () => {
      test('memory_search in a turn without a user finds only memories without a user', async () => {
        const agent = await create({ llm: calling([{ name: 'memory_search', arguments: { query: 'passport number' } }]), tools: [{ type: 'memory_search' }] });
        for (const m of [
          { content: 'victim passport number is X1234567', user_id: 'victim' },
          { content: 'The front desk asks every visitor for a passport number' },
        ]) {
          assert.equal((await s.api('POST', '/api/v1/memories', { body: { ...m, agent_id: agent.id } })).status, 201);
        }
        const anonymous = await streamChat(s, agent.id, { message: 'What passport number do you know?' });
        const found = JSON.parse(toolResult(anonymous.events).output).map((h: MemoryHit) => h.content);
        assert.deepEqual(found, ['The front desk asks every visitor for a passport number'], 'no user: only memories without one');

        const victim = await streamChat(s, agent.id, { message: 'What is my passport number?', user_id: 'victim' });
        const theirs = JSON.parse(toolResult(victim.events).output).map((h: MemoryHit) => h.content);
        assert.deepEqual(theirs, ['victim passport number is X1234567'], 'a user: only their own');
      });

      test('memory_save in a turn without a user writes nothing', async () => {
        const agent = await create({
          llm: calling([{ name: 'memory_save', arguments: { content: 'The user is anonymous' } }]),
          tools: [{ type: 'memory_save' }],
        });
        const { events } = await streamChat(s, agent.id, { message: 'Remember me' });
        assert.match(toolResult(events).error, /no user/);
        assert.equal(events.at(-1).chunk_type, 'done');
        const listed = await s.api('GET', `/api/v1/memories?agent_id=${agent.id}`);
        assert.deepEqual(listed.body.data, [], 'no memory of anyone was written');
      });

      test("working_memory_update in a turn without a user changes no user's block, and the turn sees none", async () => {
        const agent = await create({
          llm: calling([{ name: 'working_memory_update', arguments: { content: 'overwritten by an anonymous turn' } }]),
          memory: { extract: false, working: { enabled: true } },
        });
        const block = `/api/v1/agents/${agent.id}/working-memory/victim`;
        assert.equal((await s.api('PUT', block, { body: { content: 'Passport: X1234567' } })).status, 200);
        const { events } = await streamChat(s, agent.id, { message: 'Rewrite your notes' });
        assert.match(toolResult(events).error, /no user/);
        assert.equal(
          events.some((e) => e.chunk_type === 'memory_update'),
          false,
        );
        assert.equal((await s.api('GET', block)).body.content, 'Passport: X1234567', "the victim's block is unchanged");
        const sent = sentWith(emu, 'Rewrite your notes');
        assert.ok(sent.length > 0);
        assert.ok(
          sent.every((r) => !JSON.stringify(r.body).includes('X1234567')),
          "no user's working memory reached the model",
        );
      });
    });
  });
}
