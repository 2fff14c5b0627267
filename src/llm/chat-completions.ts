// The chat.completions streaming wire format, shared by every provider that speaks
// it (OpenAI and compatibles, Zhipu GLM). A provider is a `Dialect`: where to send,
// how to authenticate, how its body, finish reasons and errors differ.
import { UpstreamError, networkError } from './errors.ts';
import { postEventStream } from './event-stream.ts';
import type { UpstreamPool } from './pool.ts';
import type { FinishReason, LlmRequest, StreamPart, ToolCall, Usage } from './types.ts';

// A chunk as a provider may send it: nothing is assumed of a value's type until it is checked.
interface WireChunk {
  error?: unknown;
  usage?: WireUsage | null;
  choices?: Array<{ delta?: WireDelta | null; finish_reason?: string | null } | null>;
}
interface WireDelta {
  content?: unknown;
  reasoning_content?: unknown;
  reasoning?: unknown;
  tool_calls?: unknown;
}
interface WireToolCallDelta {
  index?: unknown;
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown } | null;
}
/** The fields read of a provider's usage; it may carry others (audio tokens, DeepSeek's cache misses). */
export interface WireUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  total_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown; [other: string]: unknown } | null;
  prompt_cache_hit_tokens?: unknown;
  [other: string]: unknown;
}

export interface Dialect {
  /** the chat completions endpoint */
  url: string;
  /** the Authorization header value, if any */
  authorization(): string | undefined | Promise<string | undefined>;
  /** provider-specific body fields beside model/messages/stream */
  body(req: LlmRequest): Record<string, unknown>;
  /** a raw finish_reason: a unified reason, or an error (e.g. Zhipu's "sensitive") */
  finish(raw: string): FinishReason | UpstreamError;
  httpError(status: number, body: string, headers: Record<string, string | string[] | undefined>, url: string): UpstreamError;
  /** a `data: {"error": …}` event in the stream */
  eventError(error: unknown): UpstreamError;
}

export async function* streamChatCompletions(pool: UpstreamPool, dialect: Dialect, req: LlmRequest): AsyncGenerator<StreamPart> {
  const auth = await dialect.authorization();
  const events = postEventStream(pool, {
    url: dialect.url,
    headers: auth ? { authorization: auth } : {},
    body: {
      model: req.model,
      messages: req.messages.map(wireMessage),
      stream: true,
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.max_tokens !== undefined ? { max_tokens: req.max_tokens } : {}),
      ...(req.top_p !== undefined ? { top_p: req.top_p } : {}),
      ...(req.stop !== undefined ? { stop: req.stop } : {}),
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      ...(req.tools?.length ? { tools: req.tools.map((t) => ({ type: 'function', function: t })) } : {}),
      ...dialect.body(req),
    },
    signal: req.signal,
    isEnd: (data) => data === '[DONE]',
    httpError: (status, body, headers) => dialect.httpError(status, body, headers, dialect.url),
  });

  const calls = new Map<number, ToolCall>();
  let finishRaw: string | null = null;
  let usage: Usage | null = null;
  let sawDone = false;
  let emitted = false;
  let failure: UpstreamError | undefined;
  try {
    for await (const data of events) {
      if (data === '[DONE]') {
        sawDone = true;
        break;
      }
      let chunk: WireChunk | null;
      try {
        chunk = JSON.parse(data) as WireChunk | null;
      } catch {
        failure = new UpstreamError('upstream_protocol', `The model provider sent invalid JSON: ${data.slice(0, 200)}`, { url: dialect.url });
        break;
      }
      if (chunk?.error) {
        failure = dialect.eventError(chunk.error);
        break;
      }
      if (chunk?.usage) usage = toUsage(chunk.usage);
      const choice = chunk?.choices?.[0];
      if (!choice) continue;
      const delta: WireDelta = choice.delta ?? {};
      // Zhipu GLM-4.5+ and DeepSeek send `reasoning_content`; OpenRouter, vLLM and others `reasoning`.
      const thought = delta.reasoning_content ?? delta.reasoning;
      if (typeof thought === 'string' && thought.length > 0) {
        emitted = true;
        yield { type: 'reasoning-delta', text: thought };
      }
      if (typeof delta.content === 'string' && delta.content.length > 0) {
        emitted = true;
        yield { type: 'text-delta', text: delta.content };
      }
      if (Array.isArray(delta.tool_calls)) collectToolCalls(calls, delta.tool_calls as WireToolCallDelta[]);
      if (choice.finish_reason) finishRaw = choice.finish_reason;
    }
  } catch (err) {
    if (req.signal?.aborted) throw err;
    failure = networkError(err, dialect.url);
  }

  if (!failure && finishRaw === null && !sawDone) {
    failure = new UpstreamError('upstream_network', 'The model provider closed the stream before the answer finished.', { url: dialect.url });
  }
  const finish = failure ?? dialect.finish(finishRaw ?? 'stop');
  if (finish instanceof UpstreamError) {
    // Before any output the caller may still retry; after it, the error is part of the stream.
    if (!emitted) throw finish;
    yield { type: 'error', error: finish.toInfo() };
    return;
  }
  for (const call of calls.values()) yield { type: 'tool-call', call };
  yield { type: 'finish', finish_reason: finish, raw_finish_reason: finishRaw, usage };
}

/** OpenAI's own finish reasons → unified; anything else is kept raw as 'other'. */
export function fromOpenAIFinishReason(raw: string): FinishReason {
  switch (raw) {
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return raw;
    case 'function_call':
      return 'tool_calls';
    default:
      return 'other';
  }
}

function wireMessage(m: LlmRequest['messages'][number]) {
  if (m.role === 'tool') return { role: 'tool', content: m.content ?? '', tool_call_id: m.tool_call_id };
  if (m.tool_calls?.length) {
    return {
      role: m.role,
      content: m.content,
      tool_calls: m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
    };
  }
  return { role: m.role, content: m.content ?? '' };
}

/** Tool-call deltas arrive in pieces keyed by index: id and name first, arguments in fragments. */
function collectToolCalls(calls: Map<number, ToolCall>, deltas: ReadonlyArray<WireToolCallDelta | null>): void {
  for (const d of deltas) {
    const index = typeof d?.index === 'number' ? d.index : calls.size;
    const call = calls.get(index) ?? { id: '', name: '', arguments: '' };
    if (typeof d?.id === 'string') call.id = d.id;
    if (typeof d?.function?.name === 'string') call.name += d.function.name;
    if (typeof d?.function?.arguments === 'string') call.arguments += d.function.arguments;
    else if (d?.function?.arguments && typeof d.function.arguments === 'object') call.arguments += JSON.stringify(d.function.arguments);
    calls.set(index, call);
  }
}

/** The provider's usage; cached prompt tokens from OpenAI's and Zhipu's `prompt_tokens_details.cached_tokens` or DeepSeek's `prompt_cache_hit_tokens`. */
export function toUsage(u: WireUsage): Usage {
  const prompt = Number(u.prompt_tokens) || 0;
  const completion = Number(u.completion_tokens) || 0;
  const cached = Number(u.prompt_tokens_details?.cached_tokens ?? u.prompt_cache_hit_tokens) || 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: Number(u.total_tokens) || prompt + completion,
    cached_prompt_tokens: Math.max(0, Math.min(cached, prompt)),
  };
}
