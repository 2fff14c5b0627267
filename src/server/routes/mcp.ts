// agentmem's memory as an MCP server at /mcp (Streamable HTTP, the official SDK's
// transport), so any MCP client — an IDE, a desktop assistant — can use one user's
// memory. Authenticated by the same API keys, org-scoped, with the REST API's roles and
// scoped-key rules (scope.ts): a scoped key reaches only its user's memories of its
// agents. Stateless: every POST is a JSON-RPC exchange of its own, answered as JSON, so
// any instance serves any request and no session outlives its key's revocation.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Memory } from '../../store/repos/memories.ts';
import type { Principal } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { AppError, errorBody, notFound } from '../errors.ts';
import { isUuid } from '../http.ts';
import { checkOwner, memoryFilter, memoryOwner } from '../scope.ts';
import { asClientError } from '../client-error.ts';

const who = {
  agent_id: z.uuid().optional().describe('an agent of your organization (a scoped key: one of its agents)'),
  user_id: z.string().min(1).max(200).optional().describe('whose memory (a scoped key: its own user, the default)'),
};
const memoryId = z.string().describe('the memory id, as memory_search or memory_add returned it');
const metadata = z.record(z.string(), z.unknown());
const filterValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** The tools, for one caller: every call runs with this principal's org and scope. */
export function memoryMcpServer(ctx: ServerContext, p: Principal): McpServer {
  const server = new McpServer(
    { name: 'agentmem-memory', version: '0.1.0' },
    { instructions: 'Long-term memory of one user of an agentmem agent: search it before answering, add durable facts.' },
  );
  const org = p.org_id;
  const json = (value: unknown): CallToolResult => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });
  const view = (m: Memory & { duplicate_of?: string }) => ({
    ...(m.duplicate_of ? { duplicate_of: m.duplicate_of } : {}),
    id: m.id,
    agent_id: m.agent_id,
    user_id: m.user_id,
    content: m.content,
    metadata: m.metadata,
    created_at: m.created_at,
    updated_at: m.updated_at,
    valid_from: m.valid_from,
    valid_to: m.valid_to,
  });

  /** The org's memory, within the key's scope and the agent/user the call names (as REST: 404 outside the org, 403 outside the scope). */
  async function owned(args: { memory_id: string; agent_id?: string; user_id?: string }): Promise<Memory> {
    const m = isUuid(args.memory_id) ? await ctx.memories.get(org, args.memory_id) : undefined;
    if (!m) throw notFound('Memory');
    checkOwner(p, m);
    if ((args.agent_id !== undefined && m.agent_id !== args.agent_id) || (args.user_id !== undefined && m.user_id !== args.user_id)) throw notFound('Memory');
    return m;
  }

  server.registerTool(
    'memory_search',
    {
      description: 'Search the memories of a user, best first (hybrid: vector and full text).',
      inputSchema: {
        query: z.string().min(1).max(10_000),
        top_k: z.int().min(1).max(100).default(10),
        min_score: z.number().min(0).max(1).default(0),
        filters: z.record(z.string(), filterValue).optional().describe('metadata fields the memories must have, with these values'),
        as_of: z.iso.datetime({ offset: true }).optional().describe('what was true then (ISO time): facts valid at that time; default: current facts'),
        ...who,
      },
    },
    async ({ query, top_k, min_score, filters, as_of, agent_id, user_id }) => {
      const q = memoryFilter(p, {
        query,
        agent_id,
        user_id,
        top_k: filters ? Math.min(100, top_k * 5) : top_k,
        min_score,
        ...(as_of ? { as_of: new Date(as_of) } : {}),
      });
      let hits = await asClientError(ctx.memories.search(org, q));
      if (filters)
        hits = hits.filter((h) => Object.entries(filters).every(([k, v]) => (h.metadata as Record<string, unknown> | undefined)?.[k] === v)).slice(0, top_k);
      return json({ results: hits.map(({ id, content, metadata, score }) => ({ id, content, metadata, score })) });
    },
  );

  server.registerTool(
    'memory_add',
    {
      description: 'Add a memory (a durable fact) for a user.',
      inputSchema: { content: z.string().min(1).max(20_000).regex(/\S/), metadata: metadata.optional(), ...who },
    },
    async ({ content, metadata, agent_id, user_id }) =>
      json(view(await asClientError(ctx.memories.add(org, memoryOwner(p, { content, metadata, agent_id, user_id }), 'mcp')))),
  );

  server.registerTool(
    'memory_update',
    {
      description: 'Change a memory’s content (embedded again) or metadata.',
      inputSchema: { memory_id: memoryId, content: z.string().min(1).max(20_000).regex(/\S/).optional(), metadata: metadata.optional(), ...who },
    },
    async (args) => {
      if (args.content === undefined && args.metadata === undefined) throw new AppError('validation_error', 'Give content or metadata.');
      await owned(args);
      const updated = await asClientError(ctx.memories.update(org, args.memory_id, { content: args.content, metadata: args.metadata }, 'mcp'));
      if (!updated) throw notFound('Memory');
      return json(view(updated));
    },
  );

  server.registerTool('memory_delete', { description: 'Delete a memory (its history stays).', inputSchema: { memory_id: memoryId, ...who } }, async (args) => {
    await owned(args);
    return json({ deleted: await ctx.memories.delete(org, args.memory_id, 'mcp') });
  });

  server.registerTool(
    'memory_history',
    {
      description: 'The ADD / UPDATE / DELETE events of a memory, oldest first, and its versions (each content with valid_from, valid_to, superseded_by).',
      inputSchema: { memory_id: memoryId, ...who },
    },
    async (args) => {
      await owned(args);
      const h = await ctx.memories.history(org, args.memory_id);
      return json({ events: h?.events ?? [], versions: h?.versions ?? [] });
    },
  );
  return server;
}

async function serve(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const server = memoryMcpServer(ctx, req.principal);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  reply.raw.once('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  // From here the SDK writes the response.
  reply.hijack();
  await transport.handleRequest(req.raw, reply.raw, req.body);
}

export const mcpRoutes =
  (ctx: ServerContext): FastifyPluginAsync =>
  async (app) => {
    const config = { access: 'scoped' } as const;
    app.post('/mcp', { config, schema: { tags: ['mcp'], summary: 'agentmem memory as an MCP server (Streamable HTTP, JSON-RPC)' } }, (req, reply) =>
      serve(ctx, req, reply),
    );
    // Stateless: no server-initiated stream to open, no session to end. 405 is what the
    // protocol says for that (the SDK's own transport would hold a GET open instead).
    const notHere = (_req: FastifyRequest, reply: FastifyReply) =>
      reply.code(405).header('allow', 'POST').send(errorBody('method_not_allowed', 'This MCP server is stateless: POST JSON-RPC messages to /mcp.'));
    app.get('/mcp', { config, schema: { hide: true } }, notHere);
    app.delete('/mcp', { config, schema: { hide: true } }, notHere);
  };
