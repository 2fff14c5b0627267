// MCP tool servers in an agent, end to end: a real MCP server (the SDK's, test/mcp-kit.ts)
// over Streamable HTTP and over stdio, the emulator as the model asking for its tools,
// agentmem streaming the turn. The tools are listed once and cached, refreshed on the
// server's list-changed notification; every failure is a tool result the model reads.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startEmulator } from '../src/emulator/server.ts';
import { chatOf, engines, sentWith, startServer, streamChat, type ChatEventLike, type TestServer } from './harness.ts';

/** A tool_result event: the tool's output, or the error it ended in (a test reads the one it expects). */
interface ToolResult extends ChatEventLike {
  output: string;
  error: string;
}
import { startMcpHttpServer, type McpHttpServer } from './mcp-kit.ts';
import { optionPath } from '../src/emulator/options.ts';

const stdioServer = fileURLToPath(new URL('./mcp-stdio-server.ts', import.meta.url));

for (const engine of engines) {
  describe(`MCP tools on ${engine}`, () => {
    let s: TestServer;
    let emu: Awaited<ReturnType<typeof startEmulator>>;
    let mcp: McpHttpServer;
    before(async () => {
      [s, emu, mcp] = await Promise.all([startServer(engine, { allowStdioMcp: true }), startEmulator({ port: 0, profile: 'instant' }), startMcpHttpServer()]);
    });
    after(async () => {
      await s?.close();
      await emu?.close();
      await mcp?.close();
    });

    const llmCalling = (calls: Array<{ name: string; arguments: object }>) => ({
      provider: 'openai-compatible',
      model: 'm',
      api_key: 'k',
      max_retries: 0,
      base_url: `${emu.url}${optionPath({ tool_calls: JSON.stringify(calls), text: 'All done.' })}/v1`,
    });
    const createAgent = async (calls: Array<{ name: string; arguments: object }>, tools: object[]) => {
      const res = await s.api('POST', '/api/v1/agents', { body: { name: 'mcp', llm: llmCalling(calls), tools } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const httpTool = (extra: object = {}) => ({ type: 'mcp', name: 'calc', url: mcp.url, headers: { 'x-mcp-key': 'mcp-secret' }, ...extra });
    const upstreamFor = (question: string) => sentWith(emu, question);
    const results = (events: ChatEventLike[]) => events.filter((e) => e.chunk_type === 'tool_result') as ToolResult[];

    test('an MCP tool over Streamable HTTP, called while streaming; listed once, its header sealed', async () => {
      const agent = await createAgent([{ name: 'calc__add', arguments: { a: 2, b: 3 } }], [httpTool()]);
      assert.deepEqual(agent.tools[0].headers, {}, 'the header is not returned');
      assert.ok(agent.secrets.includes('tools.0.headers.x-mcp-key'));
      const sessionsBefore = mcp.sessions;
      const { events, text } = await streamChat(s, agent.id, { message: 'Two plus three?' });
      assert.deepEqual(
        events.map((e) => e.chunk_type).filter((k) => k !== 'content'),
        ['start', 'tool_call', 'tool_result', 'done'],
      );
      const call = events.find((e) => e.chunk_type === 'tool_call');
      assert.equal(call.name, 'calc__add');
      assert.equal(results(events)[0]!.output, '5');
      assert.equal(text, 'All done.');
      assert.deepEqual(mcp.seen.at(-1), { tool: 'add', args: { a: 2, b: 3 } });
      assert.ok(
        mcp.headers.every((h) => h['x-mcp-key'] === 'mcp-secret'),
        'the sealed header reaches the MCP server',
      );

      const [first, second] = upstreamFor('Two plus three?');
      const offered = chatOf(first!).tools!.map((t) => t.function);
      const add = offered.find((f) => f.name === 'calc__add')!;
      assert.equal(add.description, 'Adds two numbers.');
      assert.deepEqual(add.parameters!.properties, { a: { type: 'number' }, b: { type: 'number' } }, 'the JSON schema is the server’s');
      assert.deepEqual(offered.map((f) => f.name).sort(), ['calc__add', 'calc__die', 'calc__echo', 'calc__fail', 'calc__slow']);
      assert.equal(chatOf(second!).messages.at(-1)!.content, '5', 'the result went back to the model');

      // A second turn: the same session with the MCP server, no new listing on its path.
      const again = await streamChat(s, agent.id, { message: 'And again?' });
      assert.equal(results(again.events)[0]!.output, '5');
      assert.equal(mcp.sessions, sessionsBefore + 1, 'one MCP session for the agent version');
    });

    test('an MCP header stays bound to its origin: kept on a path change, dropped on another origin', async () => {
      const agent = await createAgent([{ name: 'calc__echo', arguments: { text: 'hi' } }], [httpTool()]);
      const samePath = await s.api('PATCH', `/api/v1/agents/${agent.id}`, { body: { tools: [{ type: 'mcp', name: 'calc', url: `${mcp.url}?v=2` }] } });
      const toolSecrets = (body: { secrets: string[] }) => body.secrets.filter((p) => p.startsWith('tools.'));
      assert.deepEqual([toolSecrets(samePath.body), samePath.body.dropped_secrets], [['tools.0.headers.x-mcp-key'], []]);
      const seen = mcp.headers.length;
      await streamChat(s, agent.id, { message: 'Still keyed?' });
      assert.ok(mcp.headers.slice(seen).length > 0 && mcp.headers.slice(seen).every((h) => h['x-mcp-key'] === 'mcp-secret'));
      const moved = await s.api('PATCH', `/api/v1/agents/${agent.id}`, {
        body: { tools: [{ type: 'mcp', name: 'calc', url: mcp.url.replace('127.0.0.1', 'localhost') }] },
      });
      assert.deepEqual([toolSecrets(moved.body), moved.body.dropped_secrets], [[], ['tools.0.headers.x-mcp-key']]);
      const after = mcp.headers.length;
      const turn = await streamChat(s, agent.id, { message: 'Keyed elsewhere?' });
      assert.equal(results(turn.events)[0]!.output, 'echo: hi', 'the server is reached at its new origin');
      assert.ok(
        mcp.headers.slice(after).every((h) => h['x-mcp-key'] === undefined),
        'without the header given for the old origin',
      );
    });

    test('failures become tool results: error result, bad arguments, unknown tool, timeout', async () => {
      const agent = await createAgent(
        [
          { name: 'calc__fail', arguments: {} },
          { name: 'calc__add', arguments: { a: 'two' } },
          { name: 'calc__nope', arguments: {} },
          { name: 'calc__slow', arguments: { ms: 2_000 } },
        ],
        [httpTool({ timeout_ms: 300 })],
      );
      const started = Date.now();
      const { events, text } = await streamChat(s, agent.id, { message: 'Break it' });
      assert.equal(events.at(-1).chunk_type, 'done', JSON.stringify(events.at(-1)));
      assert.equal(text, 'All done.');
      const [fail, bad, missing, slow] = results(events) as [ToolResult, ToolResult, ToolResult, ToolResult];
      assert.match(fail.error, /the backend is on fire/);
      assert.ok(bad.error, `bad arguments are an error: ${JSON.stringify(bad)}`);
      assert.match(bad.error, /a|b/);
      assert.match(missing.error, /no tool named "calc__nope"/);
      assert.match(slow.error, /did not answer within 300 ms/);
      assert.ok(Date.now() - started < 1_900, 'the slow call was cut at its timeout');
      const toolMsgs = chatOf(upstreamFor('Break it')[1]!).messages.filter((m) => m.role === 'tool');
      assert.equal(toolMsgs.length, 4);
    });

    test('the list-changed notification refreshes the cached tools', async () => {
      const agent = await createAgent([{ name: 'calc__shiny', arguments: {} }], [httpTool()]);
      const first = await streamChat(s, agent.id, { message: 'Shiny one?' });
      assert.match(results(first.events)[0]!.error, /no tool named "calc__shiny"/);
      mcp.addTool('shiny', 'brand new');
      let output: string | undefined;
      for (let i = 0; i < 50 && output === undefined; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const turn = await streamChat(s, agent.id, { message: `Shiny now ${i}?` });
        output = results(turn.events)[0]!.output;
      }
      assert.equal(output, 'brand new');
    });

    test('a server that dies mid-call, then stays down: results the model sees, streams that finish', async () => {
      const dying = await startMcpHttpServer();
      try {
        const agent = await createAgent([{ name: 'fragile__die', arguments: {} }], [{ type: 'mcp', name: 'fragile', url: dying.url, timeout_ms: 5_000 }]);
        const started = Date.now();
        const { events, text } = await streamChat(s, agent.id, { message: 'Die please' });
        assert.equal(events.at(-1).chunk_type, 'done', JSON.stringify(events.at(-1)));
        assert.equal(text, 'All done.');
        assert.match(results(events)[0]!.error, /broke off|closed/, JSON.stringify(results(events)[0]));
        assert.ok(Date.now() - started < 6_000);
        // Down for good: the cached list is still offered, the call fails fast and readably.
        const later = await streamChat(s, agent.id, { message: 'Still there?' });
        assert.equal(later.events.at(-1).chunk_type, 'done');
        assert.match(results(later.events)[0]!.error, /could not be reached|broke off|closed/);
      } finally {
        await dying.close();
      }
    });

    test('an MCP server that is down from the start: the agent still answers', async () => {
      const agent = await createAgent([{ name: 'gone__add', arguments: { a: 1, b: 1 } }], [{ type: 'mcp', name: 'gone', url: 'http://127.0.0.1:9/mcp' }]);
      const { events, text } = await streamChat(s, agent.id, { message: 'Anyone?' });
      assert.equal(events.at(-1).chunk_type, 'done');
      assert.match(results(events)[0]!.error, /no tool named "gone__add"/);
      assert.equal(text, 'All done.');
    });

    test('stdio: a local MCP server with its sealed environment, and one that exits mid-call', async () => {
      const tool = {
        type: 'mcp',
        name: 'local',
        command: process.execPath,
        args: ['--import', 'tsx', stdioServer],
        env: { MCP_TEST_GREETING: 'hello from stdio' },
        timeout_ms: 10_000,
      };
      const agent = await createAgent(
        [
          { name: 'local__greet', arguments: {} },
          { name: 'local__add', arguments: { a: 40, b: 2 } },
        ],
        [tool],
      );
      assert.deepEqual(agent.tools[0].env, {}, 'the environment is not returned');
      const { events } = await streamChat(s, agent.id, { message: 'Greet me' });
      assert.deepEqual(
        results(events).map((r) => r.output),
        ['hello from stdio', '42'],
      );

      const dying = await createAgent([{ name: 'local__die', arguments: {} }], [tool]);
      const died = await streamChat(s, dying.id, { message: 'Exit now' });
      assert.equal(died.events.at(-1).chunk_type, 'done');
      assert.match(results(died.events)[0]!.error, /closed|could not be reached/);
      // The next call starts the program again.
      await s.api('PATCH', `/api/v1/agents/${dying.id}`, { body: { llm: llmCalling([{ name: 'local__add', arguments: { a: 1, b: 2 } }]) } });
      const back = await streamChat(s, dying.id, { message: 'Back?' });
      assert.equal(results(back.events)[0]!.output, '3');
    });
  });
}

describe('MCP tool configs', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('pglite', { egress: { kind: 'public' } });
  });
  after(() => s?.close());

  test('stdio is refused unless AGENTMEM_ALLOW_STDIO_MCP is set; egress applies to MCP URLs; url xor command', async () => {
    const stdio = await s.api('POST', '/api/v1/agents', { body: { name: 'x', tools: [{ type: 'mcp', name: 'local', command: 'node' }] } });
    assert.equal(stdio.status, 400);
    assert.match(stdio.body.error.message, /AGENTMEM_ALLOW_STDIO_MCP/);
    const local = await s.api('POST', '/api/v1/agents', { body: { name: 'x', tools: [{ type: 'mcp', name: 'calc', url: 'http://127.0.0.1:1234/mcp' }] } });
    assert.equal(local.status, 400);
    assert.equal(local.body.error.code, 'egress_denied');
    const both = await s.api('POST', '/api/v1/agents', {
      body: { name: 'x', tools: [{ type: 'mcp', name: 'calc', url: 'https://example.com/mcp', command: 'node' }] },
    });
    assert.equal(both.status, 400);
  });
});
