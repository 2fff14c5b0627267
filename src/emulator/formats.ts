// The two wire formats, byte for byte: OpenAI chat.completion(.chunk) and Zhipu GLM
// (/api/paas/v4). Only JSON shapes live here; pacing and faults are elsewhere.
// Differences that clients trip over: OpenAI sends a role chunk first, a bare finish
// chunk, and usage only when `stream_options.include_usage` (then every chunk carries
// `"usage":null` and a last `"choices":[]` chunk holds it); Zhipu repeats the role in
// every delta and puts finish_reason AND usage in its last chunk, unasked.
// Reasoning (thinking models): Zhipu sends `delta.reasoning_content` chunks before the
// content ones; DeepSeek opens with `{role, content: null, reasoning_content: ""}`, sends
// `{content: null, reasoning_content}` then `{content, reasoning_content: null}`, and counts
// `completion_tokens_details.reasoning_tokens`. `~reasoning_field=reasoning` uses the
// `delta.reasoning` field instead (OpenRouter, vLLM).
// Cached prompt tokens: OpenAI `usage.prompt_tokens_details.cached_tokens` (always present);
// DeepSeek (a `deepseek*` model) adds `prompt_cache_hit_tokens` / `prompt_cache_miss_tokens`;
// Zhipu puts `prompt_tokens_details: {cached_tokens}` in its usage when the cache served any.
import { randomBytes } from 'node:crypto';
import type { ToolCallOut, Turn } from './turn.ts';

/** anthropic: the Messages API, whose frames live in anthropic-format.ts */
export type Format = 'openai' | 'zhipu' | 'anthropic';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** prompt tokens the prefix cache served (prefix-cache.ts) */
  cached_tokens: number;
}

/** What every frame of one response shares. */
export interface Ident {
  format: Format;
  id: string;
  created: number;
  model: string;
  fingerprint: string;
  includeUsage: boolean;
  /** the turn streams reasoning first (set once the turn is planned), and in which field */
  reasoning: number;
  reasoningField: 'reasoning_content' | 'reasoning';
}

export function newIdent(format: Format, body: { model?: unknown; stream_options?: { include_usage?: unknown } }): Ident {
  const model =
    typeof body.model === 'string' && body.model ? body.model : format === 'zhipu' ? 'glm-4' : format === 'anthropic' ? 'claude-sonnet-4-5' : 'gpt-4o-mini';
  return {
    format,
    // OpenAI: chatcmpl-<29 alphanumerics>; Zhipu: a long decimal string
    id: format === 'zhipu' ? zhipuId() : format === 'anthropic' ? `msg_01${alnum(22)}` : `chatcmpl-${alnum(29)}`,
    created: Math.floor(Date.now() / 1000),
    model,
    fingerprint: `fp_${randomBytes(5).toString('hex')}`,
    // Zhipu ignores stream_options; its usage always comes in the last chunk
    includeUsage: format === 'openai' && body.stream_options?.include_usage === true,
    reasoning: 0,
    reasoningField: 'reasoning_content',
  };
}

export const sse = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
export const DONE = 'data: [DONE]\n\n';
/** a `data:` line cut off inside its JSON (fault `malformed_json`) */
export const MALFORMED = 'data: {"choices":[{"delta":{"content":"x"\n\n';

/** Frames sent as soon as the stream opens: OpenAI's role chunk (none for tool turns, whose first delta carries the role). */
export function openingFrames(t: Ident, turn: Turn): string[] {
  if (t.format === 'zhipu') return [];
  if (t.reasoning) return [sse(oaChunk(t, [oaChoice({ role: 'assistant', content: null, [t.reasoningField]: '' })]))];
  if (turn.kind === 'tools') return [];
  return [sse(oaChunk(t, [oaChoice({ role: 'assistant', content: '', refusal: null })]))];
}

export function reasoningFrame(t: Ident, token: string): string {
  if (t.format === 'zhipu') return sse(zpChunk(t, { role: 'assistant', reasoning_content: token }));
  return sse(oaChunk(t, [oaChoice({ content: null, [t.reasoningField]: token })]));
}

export function textFrame(t: Ident, token: string): string {
  if (t.format === 'zhipu') return sse(zpChunk(t, { role: 'assistant', content: token }));
  return sse(oaChunk(t, [oaChoice(t.reasoning ? { content: token, [t.reasoningField]: null } : { content: token })]));
}

/** OpenAI tool-call deltas: a header per call (id, name, empty arguments), then the arguments in pieces.
 *  Zhipu sends whole calls in its final chunk, so it has no deltas here. */
export function toolFrames(t: Ident, calls: ToolCallOut[]): string[] {
  if (t.format === 'zhipu') return [];
  const frames: string[] = [];
  calls.forEach((call, index) => {
    const header = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
    frames.push(
      sse(oaChunk(t, [oaChoice(index === 0 ? { role: 'assistant', content: null, tool_calls: [header], refusal: null } : { tool_calls: [header] })])),
    );
    for (const piece of argumentPieces(call.arguments)) {
      frames.push(sse(oaChunk(t, [oaChoice({ tool_calls: [{ index, function: { arguments: piece } }] })])));
    }
  });
  return frames;
}

/** The end of a stream: finish chunk, usage (OpenAI: only when asked), `[DONE]`. */
export function closingFrames(t: Ident, finishReason: string, usage: Usage, calls: ToolCallOut[] = []): string[] {
  if (t.format === 'zhipu') {
    const delta = calls.length
      ? { role: 'assistant', tool_calls: calls.map((c, index) => ({ id: c.id, index, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
      : { role: 'assistant', content: '' };
    return [sse(zpChunk(t, delta, finishReason, zpUsage(usage))), DONE];
  }
  const frames = [sse(oaChunk(t, [oaChoice({}, finishReason)]))];
  if (t.includeUsage) frames.push(sse(oaChunk(t, [], oaUsage(t, usage, t.reasoning))));
  frames.push(DONE);
  return frames;
}

/** An error reported inside a 200 stream (fault `error_event`). */
export function errorFrame(t: Ident): string {
  if (t.format === 'zhipu') {
    return sse({ error: { code: '1234', message: `网络错误，错误id：${zhipuId()}，请联系客服` } });
  }
  return sse({ error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } });
}

/** The non-stream body (`stream` false or absent). */
export function completionBody(t: Ident, turn: Turn, finishReason: string, usage: Usage): string {
  if (t.format === 'zhipu') {
    const message =
      turn.kind === 'tools'
        ? {
            content: null,
            role: 'assistant',
            tool_calls: turn.calls.map((c, index) => ({ function: { arguments: c.arguments, name: c.name }, id: c.id, index, type: 'function' })),
          }
        : { content: turn.text.repeat(turn.repeat), role: 'assistant' };
    if (turn.reasoning.length) Object.assign(message, { reasoning_content: turn.reasoning.join('') });
    return JSON.stringify({
      choices: [{ finish_reason: finishReason, index: 0, message }],
      created: t.created,
      id: t.id,
      model: t.model,
      request_id: t.id,
      usage: zpUsage(usage),
    });
  }
  const message =
    turn.kind === 'tools'
      ? {
          role: 'assistant',
          content: null,
          tool_calls: turn.calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
          refusal: null,
          annotations: [],
        }
      : { role: 'assistant', content: turn.text.repeat(turn.repeat), refusal: null, annotations: [] };
  if (turn.reasoning.length) Object.assign(message, { [t.reasoningField]: turn.reasoning.join('') });
  return JSON.stringify({
    id: t.id,
    object: 'chat.completion',
    created: t.created,
    model: t.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage: oaUsage(t, usage, turn.reasoning.length),
    service_tier: 'default',
    system_fingerprint: t.fingerprint,
  });
}

/** The finish reason each format uses for a given outcome. */
export function finishReasonFor(format: Format, outcome: 'stop' | 'tool_calls' | 'sensitive' | 'network_error'): string {
  if (format === 'openai' && outcome === 'sensitive') return 'content_filter';
  return outcome;
}

export function newToolCallId(format: Format): string {
  if (format === 'anthropic') return `toolu_01${alnum(22)}`;
  return format === 'zhipu' ? `call_${zhipuId()}` : `call_${alnum(24)}`;
}

function oaChunk(t: Ident, choices: unknown[], usage: unknown = null) {
  const chunk: Record<string, unknown> = {
    id: t.id,
    object: 'chat.completion.chunk',
    created: t.created,
    model: t.model,
    system_fingerprint: t.fingerprint,
    choices,
  };
  if (t.includeUsage) chunk.usage = usage;
  return chunk;
}

const oaChoice = (delta: Record<string, unknown>, finishReason: string | null = null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });

const oaUsage = (t: Ident, { cached_tokens, ...u }: Usage, reasoningTokens = 0) => ({
  ...u,
  prompt_tokens_details: { cached_tokens, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: reasoningTokens, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  ...(t.model.startsWith('deepseek') ? { prompt_cache_hit_tokens: cached_tokens, prompt_cache_miss_tokens: u.prompt_tokens - cached_tokens } : {}),
});

const zpUsage = ({ cached_tokens, ...u }: Usage) => (cached_tokens > 0 ? { ...u, prompt_tokens_details: { cached_tokens } } : u);

function zpChunk(t: Ident, delta: Record<string, unknown>, finishReason?: string, usage?: object) {
  const choice = finishReason ? { index: 0, finish_reason: finishReason, delta } : { index: 0, delta };
  const chunk: Record<string, unknown> = { id: t.id, created: t.created, model: t.model, choices: [choice] };
  if (usage) chunk.usage = usage;
  return chunk;
}

// Arguments arrive in several pieces (never fewer than two), never splitting a surrogate pair.
function argumentPieces(args: string): string[] {
  const chars = [...args];
  const size = Math.max(1, Math.min(8, Math.ceil(chars.length / 2)));
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  while (pieces.length < 2) pieces.push('');
  return pieces;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function alnum(n: number): string {
  const bytes = randomBytes(n);
  let s = '';
  for (const b of bytes) s += ALNUM[b % ALNUM.length];
  return s;
}

function zhipuId(): string {
  const d = new Date();
  const stamp = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  return (
    stamp +
    BigInt(`0x${randomBytes(8).toString('hex')}`)
      .toString()
      .padStart(20, '0')
      .slice(0, 18)
  );
}
const pad = (n: number) => String(n).padStart(2, '0');
