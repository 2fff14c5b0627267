// The Messages API's event stream → our stream parts. Events (each `data:` carries its
// own `type`): message_start (usage of the prompt, cache fields included), then per
// content block content_block_start (text, tool_use {id, name}, thinking,
// redacted_thinking) / content_block_delta (text_delta, input_json_delta, thinking_delta,
// signature_delta) / content_block_stop, then message_delta (stop_reason, output usage)
// and message_stop; `ping` anywhere; `error` ({error: {type, message}}) ends a stream.
import { LRUCache } from 'lru-cache';
import { UpstreamError, codeForStatus, networkError, parseErrorBody, providerError, retryAfterMs } from '../errors.ts';
import { postEventStream } from '../event-stream.ts';
import type { UpstreamPool } from '../pool.ts';
import type { LlmRequest, ProviderConfig, StreamPart, ToolCall } from '../types.ts';
import { anthropicCode, mapStopReason, toUsage, type AnthropicUsage } from './finish.ts';
import { toPrompt, type ThinkingBlock } from './messages.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
/** max_tokens is required by the API; this when neither the request nor the agent sets one */
export const DEFAULT_MAX_TOKENS = 4_096;
/** the smallest thinking budget the API takes */
const MIN_THINKING_BUDGET = 1_024;

/** {base}/v1/messages; a base that already ends in /v1 is taken as it is. */
export function messagesUrl(base: string): string {
  const b = base.replace(/\/+$/, '');
  return b.endsWith('/v1') ? `${b}/messages` : `${b}/v1/messages`;
}

/**
 * The thinking blocks before a tool call, by the call's id: a thinking model's tool loop
 * must send them back (signature intact) in the next step of the same turn. Bounded;
 * a step that finds none turns thinking off rather than be refused.
 */
export type ThinkingMemo = LRUCache<string, ThinkingBlock[]>;
/** At most 256 tool calls' thinking and THINKING_MEMO_BYTES of it (a thinking block can run to tens of KB), 10 minutes each. */
export const THINKING_MEMO_BYTES = 4 * 1024 * 1024;
export const newThinkingMemo = (): ThinkingMemo => new LRUCache({ max: 256, maxSize: THINKING_MEMO_BYTES, sizeCalculation: thinkingBytes, ttl: 10 * 60_000 });

/** The memo's measure of a call's thinking: its characters (at least 1). */
const thinkingBytes = (blocks: ThinkingBlock[]): number =>
  Math.max(
    1,
    blocks.reduce((n, b) => n + (b.type === 'thinking' ? b.thinking.length + b.signature.length : b.data.length), 0),
  );

const isStop = (data: string) => /^\{\s*"type"\s*:\s*"message_stop"/.test(data);

export async function* streamMessages(
  pool: UpstreamPool,
  config: ProviderConfig,
  url: string,
  req: LlmRequest,
  memo: ThinkingMemo,
): AsyncGenerator<StreamPart> {
  const events = postEventStream(pool, {
    url,
    headers: { ...(config.api_key ? { 'x-api-key': config.api_key } : {}), 'anthropic-version': ANTHROPIC_VERSION },
    body: requestBody(req, config, memo),
    signal: req.signal,
    isEnd: isStop,
    httpError: (status, body, headers) => httpError(status, body, headers, url),
  });
  const read = newReading();
  try {
    for await (const data of events) {
      const part = readEvent(read, data, url);
      if (part) {
        read.emitted = true;
        yield part;
      }
      if (read.stopped || read.failure) break;
    }
  } catch (err) {
    if (req.signal?.aborted) throw err;
    read.failure = networkError(err, url);
  }
  yield* ending(read, url, memo);
}

/** The Messages API request: the prompt, max_tokens and the thinking budget within it, sampling unless thinking. */
function requestBody(req: LlmRequest, config: ProviderConfig, memo: ThinkingMemo): Record<string, unknown> {
  const prompt = toPrompt(req, (id) => memo.get(id));
  let maxTokens = req.max_tokens ?? config.max_tokens ?? DEFAULT_MAX_TOKENS;
  let thinking = req.thinking ?? config.thinking;
  if (thinking === 'enabled' && prompt.missingThinking) thinking = 'disabled';
  let budget = 0;
  if (thinking === 'enabled') {
    // the budget counts within max_tokens and must stay below it
    budget = Math.max(MIN_THINKING_BUDGET, Math.floor(maxTokens / 2));
    if (budget >= maxTokens) maxTokens += budget;
  }
  return {
    model: req.model,
    max_tokens: maxTokens,
    ...(prompt.system.length ? { system: prompt.system } : {}),
    messages: prompt.messages,
    ...(prompt.tools.length ? { tools: prompt.tools } : {}),
    stream: true,
    // thinking takes no sampling changes
    ...(req.temperature !== undefined && thinking !== 'enabled' ? { temperature: req.temperature } : {}),
    ...(req.top_p !== undefined && thinking !== 'enabled' ? { top_p: req.top_p } : {}),
    ...(req.stop !== undefined ? { stop_sequences: Array.isArray(req.stop) ? req.stop : [req.stop] } : {}),
    ...(thinking === 'enabled' ? { thinking: { type: 'enabled', budget_tokens: budget } } : thinking === 'disabled' ? { thinking: { type: 'disabled' } } : {}),
  };
}

/** An event as it may arrive: `index` on the content_block_* events; other values checked before use. */
interface WireEvent {
  type?: unknown;
  index: number;
  message?: { usage?: AnthropicUsage } | null;
  content_block?: { type: string; id?: string; name?: string; text?: unknown; data?: string } | null;
  delta?: { type?: unknown; text?: unknown; thinking?: unknown; partial_json?: unknown; signature?: unknown; stop_reason?: string | null } | null;
  usage?: AnthropicUsage;
  error?: unknown;
}

/** A content block while it is being streamed: a tool call's JSON or a thinking's text so far. */
interface OpenBlock {
  type?: string;
  id?: string;
  name?: string;
  text: string;
  signature: string;
  data?: string;
}

/** What one stream has said so far: made once per stream, updated in place by each event. */
interface Reading {
  /** content blocks by index, as they are being streamed */
  blocks: Map<number, OpenBlock>;
  calls: ToolCall[];
  thoughts: ThinkingBlock[];
  usage: AnthropicUsage;
  stopRaw: string | null;
  /** message_stop came */
  stopped: boolean;
  /** a part went out: a failure after it is part of the stream rather than thrown */
  emitted: boolean;
  failure: UpstreamError | undefined;
}

const newReading = (): Reading => ({
  blocks: new Map(),
  calls: [],
  thoughts: [],
  usage: {},
  stopRaw: null,
  stopped: false,
  emitted: false,
  failure: undefined,
});

/** One event's `data` into `read`; the text or reasoning it streams, if any. Sets `stopped` or `failure` when the stream ends. */
function readEvent(read: Reading, data: string, url: string): StreamPart | undefined {
  let e: WireEvent | null;
  try {
    e = JSON.parse(data) as WireEvent | null;
  } catch {
    read.failure = new UpstreamError('upstream_protocol', `The model provider sent invalid JSON: ${data.slice(0, 200)}`, { url });
    return undefined;
  }
  if (!e) return undefined;
  const type = e.type;
  if (type === 'content_block_delta') return readDelta(read, e);
  if (type === 'message_start') {
    mergeUsage(read.usage, e.message?.usage);
  } else if (type === 'content_block_start') {
    const b = e.content_block;
    read.blocks.set(e.index, { type: b?.type, id: b?.id, name: b?.name, text: '', signature: '', data: b?.data });
    if (b?.type === 'text' && typeof b.text === 'string' && b.text) return { type: 'text-delta', text: b.text };
  } else if (type === 'content_block_stop') {
    closeBlock(read, e.index);
  } else if (type === 'message_delta') {
    if (e.delta?.stop_reason) read.stopRaw = e.delta.stop_reason;
    mergeUsage(read.usage, e.usage);
  } else if (type === 'message_stop') {
    read.stopped = true;
  } else if (type === 'error') {
    read.failure = eventError(e.error, url);
  }
  // ping, and event types yet to come: nothing to do
  return undefined;
}

/** content_block_delta: text and thinking go out at once; a tool call's JSON and a thinking's signature are kept. */
function readDelta(read: Reading, e: WireEvent): StreamPart | undefined {
  const d = e.delta;
  if (!d) return undefined;
  const block = read.blocks.get(e.index);
  if (d.type === 'text_delta' && typeof d.text === 'string' && d.text) return { type: 'text-delta', text: d.text };
  if (d.type === 'thinking_delta' && typeof d.thinking === 'string' && d.thinking) {
    if (block) block.text += d.thinking;
    return { type: 'reasoning-delta', text: d.thinking };
  }
  if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
    if (block) block.text += d.partial_json;
  } else if (d.type === 'signature_delta' && typeof d.signature === 'string') {
    if (block) block.signature += d.signature;
  }
  return undefined;
}

/** content_block_stop: a finished tool call, or thinking to send back with the calls it led to. */
function closeBlock(read: Reading, index: number): void {
  const block = read.blocks.get(index);
  read.blocks.delete(index);
  if (block?.type === 'tool_use') read.calls.push({ id: block.id ?? '', name: block.name ?? '', arguments: block.text || '{}' });
  else if (block?.type === 'thinking') read.thoughts.push({ type: 'thinking', thinking: block.text, signature: block.signature });
  else if (block?.type === 'redacted_thinking' && block.data) read.thoughts.push({ type: 'redacted_thinking', data: block.data });
}

/** After the last event: the failure (thrown while nothing went out), or the tool calls and the finish. */
function* ending(read: Reading, url: string, memo: ThinkingMemo): Generator<StreamPart> {
  const failure =
    read.failure ??
    (read.stopped ? undefined : new UpstreamError('upstream_network', 'The model provider closed the stream before the answer finished.', { url }));
  if (failure) {
    // Before any output the caller may still retry; after it, the error is part of the stream.
    if (!read.emitted) throw failure;
    yield { type: 'error', error: failure.toInfo() };
    return;
  }
  const { calls, thoughts } = read;
  if (calls.length && thoughts.length) memo.set(calls[0]!.id, thoughts);
  for (const call of calls) yield { type: 'tool-call', call };
  const finish = mapStopReason(read.stopRaw);
  yield { type: 'finish', finish_reason: finish.unified, raw_finish_reason: finish.raw, usage: toUsage(read.usage) };
}

/** message_delta's usage is cumulative: a field it carries replaces message_start's. */
function mergeUsage(into: AnthropicUsage, u: AnthropicUsage | undefined): void {
  if (!u || typeof u !== 'object') return;
  for (const k of ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens'] as const) {
    if (typeof u[k] === 'number') into[k] = u[k];
  }
}

function httpError(status: number, body: string, headers: Record<string, string | string[] | undefined>, url: string): UpstreamError {
  const err = parseErrorBody(body);
  const message = err?.message ? `${status} ${err.type ?? 'error'}: ${err.message}` : `Anthropic answered HTTP ${status}.`;
  return new UpstreamError(anthropicCode(err?.type) ?? codeForStatus(status), message, {
    status,
    url,
    body,
    providerCode: err?.type,
    retryAfterMs: retryAfterMs(headers['retry-after']),
  });
}

function eventError(error: unknown, url: string): UpstreamError {
  const { type, message } = providerError(error) ?? {};
  return new UpstreamError(anthropicCode(type) ?? 'upstream_error', `Anthropic (${type ?? 'error'}): ${message ?? 'error'}`, {
    url,
    providerCode: type,
  });
}
