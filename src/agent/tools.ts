// An agent's tools: HTTP tools, MCP servers' tools (mcp-tools.ts) and the built-in memory tools, described to the model
// as specs and run by `callTool`, which never throws: a tool that fails, times out or
// answers garbage becomes a result the model reads, never a broken stream.
import type { Dispatcher } from 'undici';
import { egressDenial } from '../llm/egress.ts';
import { fetchVia } from '../llm/pool.ts';
import type { ToolCall, ToolSpec } from '../llm/types.ts';
import type { ToolConfig } from './config.ts';
import type { McpToolset } from './mcp-tools.ts';
import { fetchFollowing, type ToolResponse } from './tool-fetch.ts';

export interface ToolResult {
  output?: string;
  error?: string;
  duration_ms: number;
}

/** What the memory tools need: the memory service, scoped by the caller. */
export interface MemoryTools {
  /** `user_id` null: only memories without a user (an anonymous turn), never "any user" */
  search(
    orgId: string,
    q: { query: string; agent_id: string; user_id: string | null; top_k: number; min_score: number },
  ): Promise<Array<{ id: string; content: string; score: number }>>;
  add(orgId: string, m: { content: string; agent_id: string; user_id?: string; metadata?: Record<string, unknown> }, source?: string): Promise<{ id: string }>;
}

export interface ToolContext {
  orgId: string;
  agentId: string;
  userId: string | null;
  signal: AbortSignal;
  memories?: MemoryTools;
  /** the app's connection pool: HTTP tools obey its egress policy */
  dispatcher: Dispatcher;
  /** the agent's MCP servers' tools, listed for this turn */
  mcp?: McpToolset;
}

// What a tool may hand the model: enough for an API answer, not a whole web page.
const MAX_OUTPUT = 16 * 1024;

const builtin = {
  memory_search: {
    description: 'Search your long-term memory of this user for facts relevant to a query.',
    parameters: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'what to look for' },
        top_k: { type: 'integer', minimum: 1, maximum: 20 },
        as_of: { type: 'string', description: 'ISO date or time: what was true then (default: now)' },
      },
      required: ['query'],
    },
  },
  memory_save: {
    description: 'Save a durable fact about this user to long-term memory.',
    parameters: { type: 'object', properties: { content: { type: 'string', description: 'the fact, one sentence' } }, required: ['content'] },
  },
} as const;

/** The configured tools as the model sees them; an MCP server stands for the tools it lists (`mcp`). */
export function toolSpecs(tools: ToolConfig[], mcp?: McpToolset): ToolSpec[] {
  const own = tools.flatMap((t): ToolSpec[] =>
    t.type === 'mcp'
      ? []
      : t.type === 'http'
        ? [{ name: t.name, description: t.description, parameters: t.parameters }]
        : [{ name: t.name, description: t.description ?? builtin[t.type].description, parameters: builtin[t.type].parameters }],
  );
  return mcp ? [...own, ...mcp.specs] : own;
}

export async function callTool(tools: ToolConfig[], call: ToolCall, ctx: ToolContext): Promise<ToolResult> {
  const started = performance.now();
  const done = (r: { output?: string; error?: string }): ToolResult => ({ ...r, duration_ms: Math.round((performance.now() - started) * 1000) / 1000 });
  const tool = tools.find((t) => t.name === call.name && t.type !== 'mcp');
  if (!tool && !ctx.mcp?.specs.some((s) => s.name === call.name)) return done({ error: `There is no tool named "${call.name}".` });
  let args: Record<string, unknown>;
  try {
    const parsed = call.arguments.trim() ? JSON.parse(call.arguments) : {};
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    args = parsed;
  } catch {
    return done({ error: `The arguments are not a JSON object: ${call.arguments.slice(0, 200)}` });
  }
  try {
    if (!tool) return done((await ctx.mcp!.call(call.name, args, ctx.signal))!);
    if (tool.type === 'mcp') return done({ error: `There is no tool named "${call.name}".` });
    if (tool.type === 'http') return done(await callHttp(tool, args, ctx.signal, ctx.dispatcher));
    if (!ctx.memories) return done({ error: 'Memory is not available here.' });
    if (tool.type === 'memory_search') {
      if (typeof args.query !== 'string' || !args.query) return done({ error: '"query" must be a non-empty string.' });
      const topK = Number.isInteger(args.top_k) ? Math.min(20, Math.max(1, args.top_k as number)) : 5;
      const asOf = typeof args.as_of === 'string' && args.as_of ? new Date(args.as_of) : undefined;
      if (asOf && Number.isNaN(asOf.getTime())) return done({ error: '"as_of" must be an ISO date or time.' });
      // The turn's user, or — with none — only memories without a user, as recall sees them.
      const hits = await ctx.memories.search(ctx.orgId, {
        query: args.query,
        agent_id: ctx.agentId,
        user_id: ctx.userId,
        top_k: topK,
        min_score: 0,
        ...(asOf ? { as_of: asOf } : {}),
      });
      return done({ output: JSON.stringify(hits.map(({ content, score }) => ({ content, score: Math.round(score * 1000) / 1000 }))) });
    }
    if (typeof args.content !== 'string' || !args.content.trim()) return done({ error: '"content" must be a non-empty string.' });
    if (!ctx.userId) return done({ error: 'There is no user to remember this for.' });
    const saved = await ctx.memories.add(
      ctx.orgId,
      { content: args.content.trim().slice(0, 2_000), agent_id: ctx.agentId, user_id: ctx.userId, metadata: { source: 'memory_save' } },
      'tool',
    );
    return done({ output: JSON.stringify({ saved: saved.id }) });
  } catch (err) {
    return done({ error: err instanceof Error ? err.message : String(err) });
  }
}

/** GET and DELETE send the arguments as query parameters; the others as a JSON body. */
async function callHttp(
  tool: Extract<ToolConfig, { type: 'http' }>,
  args: Record<string, unknown>,
  signal: AbortSignal,
  dispatcher: Dispatcher,
): Promise<{ output?: string; error?: string }> {
  const url = new URL(tool.url);
  const inQuery = tool.method === 'GET' || tool.method === 'DELETE';
  if (inQuery) for (const [k, v] of Object.entries(args)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  const timeout = AbortSignal.timeout(tool.timeout_ms);
  let sent: ToolResponse;
  try {
    sent = await fetchFollowing(fetchVia(dispatcher), {
      url,
      method: tool.method,
      body: inQuery ? undefined : JSON.stringify(args),
      secrets: tool.headers,
      signal: AbortSignal.any([signal, timeout]),
    });
  } catch (err) {
    if (timeout.aborted) return { error: `The tool did not answer within ${tool.timeout_ms} ms.` };
    const denied = egressDenial(err);
    if (denied) return { error: `The tool was not called: ${denied.message}` };
    return { error: `The tool could not be reached: ${(err as Error).message}` };
  }
  if ('error' in sent) return sent;
  const { res, withheld } = sent;
  let text: string;
  try {
    // NUL cannot be stored (PostgreSQL text) and means nothing to a model.
    text = (await res.text()).replaceAll('\u0000', '');
  } catch (err) {
    return { error: timeout.aborted ? `The tool did not answer within ${tool.timeout_ms} ms.` : `The tool's answer broke off: ${(err as Error).message}` };
  }
  const capped = text.length > MAX_OUTPUT ? `${text.slice(0, MAX_OUTPUT)}… [${text.length - MAX_OUTPUT} more characters cut]` : text;
  if (res.ok) return { output: capped };
  // A redirect elsewhere got no credentials: say so, or a 401 there reads as a bad key.
  const note = withheld ? ` (a redirect led to ${withheld}; the tool's headers are only sent to ${url.origin})` : '';
  return { error: `HTTP ${res.status}: ${capped.slice(0, 1_000)}${note}` };
}
