// A tiny MCP tool server for tests, built with the official SDK: the same tools over
// Streamable HTTP (startMcpHttpServer, stateful sessions so list-changed notifications
// reach the client) and over stdio (test/mcp-stdio-server.ts). `die` kills the server
// in the middle of its call: the HTTP one drops every connection and stops listening,
// the stdio one exits.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/** Registers the test tools on a server; `onDie` is what dying means for its transport. */
export function registerTestTools(server: McpServer, onDie: () => void, seen: Array<{ tool: string; args: unknown }> = []): void {
  const note = (tool: string, args: unknown) => seen.push({ tool, args });
  server.registerTool('add', { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } }, async (args) => {
    note('add', args);
    return { content: [{ type: 'text', text: String(args.a + args.b) }] };
  });
  server.registerTool('echo', { description: 'Says the text back.', inputSchema: { text: z.string() } }, async (args) => {
    note('echo', args);
    return { content: [{ type: 'text', text: `echo: ${args.text}` }] };
  });
  server.registerTool('slow', { description: 'Answers after ms milliseconds.', inputSchema: { ms: z.number() } }, async (args) => {
    note('slow', args);
    await sleep(args.ms);
    return { content: [{ type: 'text', text: `slept ${args.ms}` }] };
  });
  server.registerTool('fail', { description: 'Always fails.' }, async () => {
    note('fail', {});
    return { isError: true, content: [{ type: 'text', text: 'the backend is on fire' }] };
  });
  server.registerTool('die', { description: 'Kills the server mid-call.' }, async () => {
    note('die', {});
    onDie();
    // never answers (and holds no timer that would keep a test process alive)
    return new Promise<never>(() => {});
  });
}

export interface McpHttpServer {
  url: string;
  /** tool calls received, in order */
  seen: Array<{ tool: string; args: unknown }>;
  /** headers of every HTTP request received */
  headers: IncomingHttpHeaders[];
  /** MCP sessions opened (an `initialize` each) */
  readonly sessions: number;
  /** adds a tool and notifies every connected client that the list changed */
  addTool(name: string, text: string): void;
  close(): Promise<void>;
}

export async function startMcpHttpServer(): Promise<McpHttpServer> {
  const seen: McpHttpServer['seen'] = [];
  const headers: IncomingHttpHeaders[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const servers: McpServer[] = [];
  const extra: Array<{ name: string; text: string }> = [];
  let opened = 0;
  let http: Server;
  const die = () => {
    http.closeAllConnections();
    http.close();
  };
  const newServer = () => {
    const server = new McpServer({ name: 'test-tools', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    registerTestTools(server, die, seen);
    for (const t of extra) server.registerTool(t.name, { description: `added: ${t.name}` }, async () => ({ content: [{ type: 'text', text: t.text }] }));
    servers.push(server);
    return server;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    headers.push(req.headers);
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (!transport) {
      if (req.method !== 'POST' || sid) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      const t = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => {
          opened++;
          transports.set(id, t);
        },
      });
      t.onclose = () => t.sessionId && transports.delete(t.sessionId);
      await newServer().connect(t);
      transport = t;
    }
    await transport.handleRequest(req, res);
  };
  http = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    headers,
    get sessions() {
      return opened;
    },
    addTool(name, text) {
      extra.push({ name, text });
      for (const server of servers) {
        if (!server.isConnected()) continue;
        server.registerTool(name, { description: `added: ${name}` }, async () => ({ content: [{ type: 'text', text }] }));
      }
    },
    async close() {
      await Promise.allSettled(servers.map((s) => s.close()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
