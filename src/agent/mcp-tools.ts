// MCP tool servers in an agent, through the official SDK's client: Streamable HTTP (the
// app's pool, so the egress policy applies; headers only to the server's origin) or a
// local program over stdio (only with AGENTMEM_ALLOW_STDIO_MCP=1). One connection per
// server of an agent version. Its tool list is read when the agent is first used and
// kept (the server's list-changed notification refreshes it), so later turns never
// wait for an MCP server before their first token. A call never throws: a server that
// is down, times out, dies mid-call or reports an error becomes a result the model reads.
import { isAgentsServerKey, mcpServerKey } from '../keys.ts';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Dispatcher } from 'undici';
import { egressDenial } from '../llm/egress.ts';
import { fetchVia } from '../llm/pool.ts';
import type { ToolSpec } from '../llm/types.ts';
import { AgentConfigError } from './agents.ts';
import type { AgentConfig, ToolConfig } from './config.ts';

type McpConfig = Extract<ToolConfig, { type: 'mcp' }>;

/** What one turn may call of an agent's MCP servers. */
export interface McpToolset {
  specs: ToolSpec[];
  /** Runs the tool behind a model-facing name; undefined when no server of this agent offers it. */
  call(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<{ output?: string; error?: string }> | undefined;
}

export interface McpAgent {
  id: string;
  version: number;
  config: Pick<AgentConfig, 'tools'>;
}

// A first connection and listing that takes longer than this is not worth a turn's wait.
const FIRST_LIST_MS = 10_000;
// After a failed listing, later turns try again in the background, at most this often.
const RETRY_MS = 5_000;
const MAX_OUTPUT = 16 * 1024;
const SEP = '__';

/** A config's stdio servers, refused unless the operator allowed them (they run a program on this host). */
export function checkStdioMcp(config: Pick<AgentConfig, 'tools'>, allowed: boolean): void {
  if (allowed) return;
  const issues = config.tools.flatMap((t, i) =>
    t.type === 'mcp' && t.command !== undefined
      ? [
          {
            code: 'custom' as const,
            path: ['tools', i, 'command'],
            message: 'stdio MCP servers run a program on the server: set AGENTMEM_ALLOW_STDIO_MCP=1 to allow them',
            input: t.command,
          },
        ]
      : [],
  );
  if (issues.length) throw new AgentConfigError(issues);
}

/** The model-facing name of a server's tool: `<server>__<tool>`, in the characters and length tool names allow. */
export function mcpToolName(server: string, tool: string): string {
  return `${server}${SEP}${tool.replace(/[^a-zA-Z0-9_-]/g, '_')}`.slice(0, 64);
}

export function createMcpTools(opts: { dispatcher: Dispatcher; allowStdio: boolean; onError?: (err: unknown, server: string) => void }) {
  // mcpServerKey(agent id, server name) → connection, of the newest version seen of that agent.
  const servers = new Map<string, McpServer>();
  const fetch = fetchVia(opts.dispatcher) as unknown as FetchLike;

  function serverFor(agent: McpAgent, config: McpConfig): McpServer {
    const key = mcpServerKey(agent.id, config.name);
    const known = servers.get(key);
    if (known && known.version === agent.version) return known;
    // A new version of the agent: its servers may have changed; the old connection goes
    // (in the background: close() never rejects, and the new connection need not wait for it).
    void known?.close();
    const server = new McpServer(config, agent.version, () => transportFor(config), opts.onError);
    servers.set(key, server);
    return server;
  }

  function transportFor(config: McpConfig): Transport {
    if (config.url) {
      return new StreamableHTTPClientTransport(new URL(config.url), {
        fetch,
        requestInit: { headers: config.headers },
        // The headers are for this origin: a redirect elsewhere is not followed.
        redirectPolicy: 'same-origin',
        // A broken stream fails the call (the model is told); it is not replayed for minutes.
        reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1_000, maxReconnectionDelay: 1_000, reconnectionDelayGrowFactor: 1 },
      });
    }
    if (!opts.allowStdio) throw new Error('stdio MCP servers are not allowed here (AGENTMEM_ALLOW_STDIO_MCP).');
    return new StdioClientTransport({ command: config.command!, args: config.args, env: { ...getDefaultEnvironment(), ...config.env }, stderr: 'ignore' });
  }

  return {
    /**
     * The agent's MCP tools for a turn. The first use connects and lists (bounded);
     * afterwards it is the cached list at once, whatever the servers' state.
     */
    async toolset(agent: McpAgent): Promise<McpToolset | undefined> {
      const configs = agent.config.tools.filter((t): t is McpConfig => t.type === 'mcp');
      if (!configs.length) return undefined;
      const used = configs.map((c) => serverFor(agent, c));
      await Promise.all(used.map((s) => s.listedOnce()));
      const byName = new Map<string, { server: McpServer; tool: string }>();
      const specs: ToolSpec[] = [];
      for (const server of used) {
        for (const tool of server.tools ?? []) {
          const name = mcpToolName(server.config.name, tool.name);
          if (byName.has(name)) continue;
          byName.set(name, { server, tool: tool.name });
          specs.push({ name, description: tool.description ?? tool.title ?? '', parameters: tool.inputSchema as Record<string, unknown> });
        }
      }
      return {
        specs,
        call(name, args, signal) {
          const hit = byName.get(name);
          return hit && hit.server.call(hit.tool, args, signal);
        },
      };
    },
    /** Drops an agent's connections ('*': all of them), e.g. when the agent changes. */
    invalidate(agentId: string) {
      for (const [key, server] of servers) {
        if (agentId === '*' || isAgentsServerKey(key, agentId)) {
          void server.close(); // never rejects; nobody waits for the socket to shut
          servers.delete(key);
        }
      }
    },
    async close() {
      await Promise.allSettled([...servers.values()].map((s) => s.close()));
      servers.clear();
    },
  };
}

export type McpTools = ReturnType<typeof createMcpTools>;

/** One MCP server of one agent version: its connection (made again when lost) and its cached tool list. */
class McpServer {
  tools: Tool[] | undefined;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private firstListing: Promise<void> | undefined;
  private lastAttempt = 0;
  private closed = false;

  constructor(
    readonly config: McpConfig,
    readonly version: number,
    private readonly transport: () => Transport,
    private readonly onError?: (err: unknown, server: string) => void,
  ) {}

  /** Waits only for the very first listing; after a failed one, retries in the background. */
  listedOnce(): Promise<void> {
    if (!this.firstListing) {
      this.firstListing = this.list(FIRST_LIST_MS);
      return this.firstListing;
    }
    if (this.tools === undefined && Date.now() - this.lastAttempt > RETRY_MS) void this.list(FIRST_LIST_MS);
    return this.tools === undefined ? Promise.race([this.firstListing, Promise.resolve()]) : Promise.resolve();
  }

  private async list(timeoutMs: number): Promise<void> {
    this.lastAttempt = Date.now();
    try {
      const client = await withTimeout(this.connect(), timeoutMs, 'connecting');
      this.tools = (await client.listTools(undefined, { timeout: timeoutMs })).tools;
    } catch (err) {
      this.onError?.(err, this.config.name);
    }
  }

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new Client(
        { name: 'agentmem', version: '0.1.0' },
        {
          listChanged: {
            tools: {
              debounceMs: 0,
              onChanged: (err, tools) => {
                if (!err && tools) this.tools = tools;
              },
            },
          },
        },
      );
      const transport = this.transport();
      client.onclose = () => {
        if (this.client === client) this.client = undefined;
      };
      try {
        await client.connect(transport);
      } catch (err) {
        await client.close().catch(() => {});
        throw err;
      }
      if (this.closed) {
        await client.close().catch(() => {});
        throw new Error('closed');
      }
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<{ output?: string; error?: string }> {
    const ms = this.config.timeout_ms;
    let client: Client | undefined;
    try {
      client = await withTimeout(this.connect(), ms, 'connecting');
      const result = (await client.callTool({ name: tool, arguments: args }, undefined, { timeout: ms, signal })) as CallToolResult;
      const text = resultText(result);
      return result.isError ? { error: text || 'The tool reported an error.' } : { output: text };
    } catch (err) {
      // A broken connection (not a slow or failing tool, not a cancelled turn): the next call connects again.
      if (client && !signal.aborted && (!(err instanceof McpError) || err.code === ErrorCode.ConnectionClosed)) void this.drop(client);
      return { error: describe(err, ms, signal) };
    }
  }

  private async drop(client: Client): Promise<void> {
    if (this.client === client) this.client = undefined;
    await client.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => {});
  }
}

/** What the model reads: the text parts (structured content when there is no text), capped. */
function resultText(result: CallToolResult): string {
  const parts = (result.content ?? []).map((c) => {
    if (c.type === 'text') return c.text;
    if (c.type === 'resource' && 'text' in c.resource) return String(c.resource.text);
    return `[${c.type}]`;
  });
  let text = parts.join('\n');
  if (!text && result.structuredContent !== undefined) text = JSON.stringify(result.structuredContent);
  text = text.replaceAll('\u0000', '');
  return text.length > MAX_OUTPUT ? `${text.slice(0, MAX_OUTPUT)}… [${text.length - MAX_OUTPUT} more characters cut]` : text;
}

function describe(err: unknown, ms: number, signal: AbortSignal): string {
  if (signal.aborted) return 'The call was cancelled.';
  if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) return `The MCP server did not answer within ${ms} ms.`;
  const denied = egressDenial(err);
  if (denied) return `The tool was not called: ${denied.message}`;
  if (err instanceof TimeoutError) return `The MCP server could not be reached within ${ms} ms.`;
  if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) return 'The MCP server closed the connection during the call.';
  if (err instanceof McpError) return `The MCP server answered with an error: ${err.message}`;
  const cause = (err as { cause?: { message?: string } })?.cause?.message;
  const message = `${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ''}`;
  return `The MCP server could not be reached, or broke off: ${message}`;
}

class TimeoutError extends Error {}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError(`${what} took longer than ${ms} ms`)), ms)));
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
