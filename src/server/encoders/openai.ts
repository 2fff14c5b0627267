// OpenAI chat.completions wire format as a transform of the agent event union:
// `chat.completion.chunk` objects with choices[0].delta, a finish chunk, the usage
// chunk when stream_options.include_usage asks for it; errors as OpenAI's
// `{error: {message, type, param, code}}`. The route writes each object as one
// `data:` frame and ends with `data: [DONE]`.
import type { AgentEvent } from '../../agent/events.ts';
import type { FinishReason, Usage } from '../../llm/types.ts';

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** Unified finish reason → OpenAI's, which has no "error" or "other". */
export function openaiFinishReason(r: FinishReason | null): OpenAIFinishReason {
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

/**
 * A stateful transform, one per response: each event → the objects to send, in order.
 * Server-side tool calls, memory updates and metadata have no OpenAI equivalent and
 * are left out (a client would try to run the tools itself).
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

  return (e) => {
    switch (e.chunk_type) {
      case 'start':
        id = `chatcmpl-${e.message_id}`;
        return [chunk({ role: 'assistant', content: '' }, null)];
      case 'content':
        return [chunk({ content: e.content }, null)];
      // DeepSeek's (and Zhipu's) field for a thinking model's reasoning, as their clients read it.
      case 'reasoning':
        return [chunk({ reasoning_content: e.content }, null)];
      case 'done': {
        const out: object[] = [chunk({}, openaiFinishReason(e.finish_reason))];
        if (opts.includeUsage) out.push({ id, object: 'chat.completion.chunk', created, model: opts.model, system_fingerprint: null, choices: [], usage: e.usage });
        return out;
      }
      case 'error':
        return [openaiError(502, e.code, e.message)];
      default:
        return [];
    }
  };
}

/** The non-streaming answer: one `chat.completion` object. */
export function openaiCompletion(r: { messageId: string; content: string; reasoning?: string; finishReason: FinishReason | null; usage: Usage | null }, model: string) {
  return {
    id: `chatcmpl-${r.messageId}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: r.content, ...(r.reasoning ? { reasoning_content: r.reasoning } : {}), refusal: null },
        logprobs: null,
        finish_reason: openaiFinishReason(r.finishReason),
      },
    ],
    usage: r.usage,
  };
}
