// The built-in `working_memory_update` tool, offered when memory.working is enabled:
// the agent rewrites its working-memory block, and the stream says so with a
// `memory_update` event (`event: "WORKING"`).
import type { ToolCall, ToolSpec } from '../llm/types.ts';
import { WORKING_TOOL, workingToolSpec, type WorkingMemories } from '../memory/working-memory.ts';
import type { AgentConfig } from './config.ts';
import type { EventSink } from './events.ts';
import type { ToolResult } from './tools.ts';

/** The tools a turn offers the model: `specs` (the configured ones), and working memory's when it is on. */
export function turnTools(config: AgentConfig, specs: ToolSpec[] | undefined): ToolSpec[] | undefined {
  if (!config.memory.working.enabled || config.tools.some((t) => t.name === WORKING_TOOL)) return specs;
  return [...(specs ?? []), workingToolSpec];
}

export async function callWorkingTool(
  working: WorkingMemories,
  config: AgentConfig,
  call: ToolCall,
  ctx: { orgId: string; agentId: string; userId: string | null; sessionId: string },
  sink: EventSink,
): Promise<ToolResult> {
  const started = performance.now();
  const done = (r: { output?: string; error?: string }): ToolResult => ({ ...r, duration_ms: Math.round((performance.now() - started) * 1000) / 1000 });
  let args: unknown;
  try {
    args = call.arguments.trim() ? JSON.parse(call.arguments) : {};
  } catch {
    return done({ error: `The arguments are not a JSON object: ${call.arguments.slice(0, 200)}` });
  }
  if (!args || typeof args !== 'object' || Array.isArray(args)) return done({ error: 'The arguments must be a JSON object.' });
  try {
    const w = config.memory.working;
    const r = await working.update(w, ctx.orgId, ctx.agentId, ctx.userId, ctx.sessionId, args as Record<string, unknown>);
    if (r.error !== undefined) return done({ error: r.error });
    const owner = w.scope === 'session' ? `session:${ctx.sessionId}` : `user:${ctx.userId}`;
    sink.emit({ chunk_type: 'memory_update', event: 'WORKING', memory_id: `working:${owner}`, content: r.content! });
    return done({ output: 'Working memory updated.' });
  } catch (err) {
    return done({ error: `Working memory could not be saved: ${err instanceof Error ? err.message : String(err)}` });
  }
}

/** Is this call the working-memory tool (and is it on for the agent)? */
callWorkingTool.handles = (config: AgentConfig, call: ToolCall): boolean =>
  call.name === WORKING_TOOL && config.memory.working.enabled && !config.tools.some((t) => t.name === WORKING_TOOL);
