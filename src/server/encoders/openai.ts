// OpenAI chat.completions wire format as a transform of the agent event union:
// `chat.completion.chunk` objects with choices[0].delta, a finish chunk, the usage
// chunk when stream_options.include_usage asks for it; errors as OpenAI's
// `{error: {message, type, param, code}}`. stream-turn.ts writes each object as one
// `data:` frame and ends with `data: [DONE]`.
//
// Calls of the client's own tools are OpenAI `tool_calls` (finish_reason "tool_calls"). What
// has no OpenAI equivalent travels in the `agentmem` extension field: the agent's own
// (server-side) tool calls with their results, and the turn's timings and session.
import type { AgentEvent } from '../../agent/events.ts';
import type { FinishReason, Usage } from '../../llm/types.ts';
import type { TimingsJSON } from '../../trace/timings.ts';

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** Unified finish reason → OpenAI's, which has no "error" or "other". */
export function toOpenAIFinishReason(r: FinishReason | null): OpenAIFinishReason {
  return r === 'length' || r === 'tool_calls' || r === 'content_filter' ? r : 'stop';
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** OpenAI's error `type` for an HTTP status (clients such as the openai SDK branch on the status). */
export function openaiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export function openaiError(status: number, code: string, message: string, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type: openaiErrorType(status), param, code } };
}

export interface ChunkOptions {
  /** echoed in every chunk (the agent id the client asked for) */
  model: string;
  includeUsage: boolean;
  /** unix seconds */
  created?: number;
}

/** A server-side tool call as the `agentmem.tool_calls` extension reports it. */
export interface ServerToolCall {
  id: string;
  name: string;
  arguments: string;
  output?: string;
  error?: string;
  duration_ms?: number;
}

/**
 * A stateful transform, one per response: each event → the objects to send, in order.
 * Client tool calls become `delta.tool_calls`; the agent's own tool calls and results ride
 * in `agentmem.tool_call` / `agentmem.tool_result` on an empty delta (a client must not run
 * them); the finish chunk carries `agentmem.timings`. Memory updates and metadata are left out.
 */
export function openaiChunks(opts: ChunkOptions): (event: AgentEvent) => object[] {
  const created = opts.created ?? Math.floor(Date.now() / 1000);
  let id = 'chatcmpl-agentmem';
  // With include_usage every chunk carries `usage: null`, and one last chunk the totals.
  const usageField = opts.includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finish_reason: OpenAIFinishReason | null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: opts.model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason }],
    ...usageField,
  });

  let toolIndex = 0;
  return (e) => {
    switch (e.chunk_type) {
      case 'start':
        id = `chatcmpl-${e.message_id}`;
        return [chunk({ role: 'assistant', content: '' }, null)];
      case 'tool_call':
        if (e.client)
          return [chunk({ tool_calls: [{ index: toolIndex++, id: e.call_id, type: 'function', function: { name: e.name, arguments: e.arguments } }] }, null)];
        return [{ ...chunk({}, null), agentmem: { tool_call: { id: e.call_id, name: e.name, arguments: e.arguments } } }];
      case 'tool_result':
        return [
          { ...chunk({}, null), agentmem: { tool_result: { id: e.call_id, name: e.name, output: e.output, error: e.error, duration_ms: e.duration_ms } } },
        ];
      case 'content':
        return [chunk({ content: e.content }, null)];
      // DeepSeek's (and Zhipu's) field for a thinking model's reasoning, as their clients read it.
      case 'reasoning':
        return [chunk({ reasoning_content: e.content }, null)];
      case 'done': {
        const out: object[] = [
          { ...chunk({}, toOpenAIFinishReason(e.finish_reason)), agentmem: { session_id: e.session_id, timings: e.timings, model: e.model } },
        ];
        if (opts.includeUsage)
          out.push({ id, object: 'chat.completion.chunk', created, model: opts.model, system_fingerprint: null, choices: [], usage: toOpenAIUsage(e.usage) });
        return out;
      }
      case 'error':
        return [openaiError(502, e.code, e.message)];
      default:
        return [];
    }
  };
}

/** Usage as OpenAI reports it: the cached prompt tokens under `prompt_tokens_details.cached_tokens`. */
export function toOpenAIUsage(u: Usage | null) {
  if (!u) return null;
  const { cached_prompt_tokens, ...counts } = u;
  return { ...counts, prompt_tokens_details: { cached_tokens: cached_prompt_tokens } };
}

/** What a non-streaming answer collects from the events: the client's tool calls, the agent's own. */
export function openaiToolCollector() {
  const client: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  const server = new Map<string, ServerToolCall>();
  return {
    client,
    server: () => [...server.values()],
    emit(e: AgentEvent) {
      if (e.chunk_type === 'tool_call' && e.client) client.push({ id: e.call_id, type: 'function', function: { name: e.name, arguments: e.arguments } });
      else if (e.chunk_type === 'tool_call') server.set(e.call_id, { id: e.call_id, name: e.name, arguments: e.arguments });
      else if (e.chunk_type === 'tool_result') Object.assign(server.get(e.call_id) ?? {}, { output: e.output, error: e.error, duration_ms: e.duration_ms });
    },
  };
}

/** The non-streaming answer: one `chat.completion` object. */
export function openaiCompletion(
  r: { messageId: string; sessionId?: string; content: string; reasoning?: string; finishReason: FinishReason | null; usage: Usage | null },
  model: string,
  extra: { toolCalls?: ReturnType<typeof openaiToolCollector>['client']; serverToolCalls?: ServerToolCall[]; timings?: TimingsJSON } = {},
) {
  const calls = extra.toolCalls?.length ? extra.toolCalls : undefined;
  return {
    id: `chatcmpl-${r.messageId}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: calls && !r.content ? null : r.content,
          ...(r.reasoning ? { reasoning_content: r.reasoning } : {}),
          ...(calls ? { tool_calls: calls } : {}),
          refusal: null,
        },
        logprobs: null,
        finish_reason: calls ? 'tool_calls' : toOpenAIFinishReason(r.finishReason),
      },
    ],
    usage: toOpenAIUsage(r.usage),
    agentmem: { session_id: r.sessionId, tool_calls: extra.serverToolCalls ?? [], timings: extra.timings },
  };
}
