// The Messages API's event stream → our stream parts. Events (each `data:` carries its
// own `type`): message_start (usage of the prompt, cache fields included), then per
// content block content_block_start (text, tool_use {id, name}, thinking,
// redacted_thinking) / content_block_delta (text_delta, input_json_delta, thinking_delta,
// signature_delta) / content_block_stop, then message_delta (stop_reason, output usage)
// and message_stop; `ping` anywhere; `error` ({error: {type, message}}) ends a stream.
import { LRUCache } from 'lru-cache';
import { UpstreamError, codeForStatus, networkError, parseErrorBody, retryAfterMs } from '../errors.ts';
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
  const events = postEventStream(pool, {
    url,
    headers: { ...(config.api_key ? { 'x-api-key': config.api_key } : {}), 'anthropic-version': ANTHROPIC_VERSION },
    body: {
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
      ...(thinking === 'enabled'
        ? { thinking: { type: 'enabled', budget_tokens: budget } }
        : thinking === 'disabled'
          ? { thinking: { type: 'disabled' } }
          : {}),
    },
    signal: req.signal,
    isEnd: isStop,
    httpError: (status, body, headers) => httpError(status, body, headers, url),
  });

  // content blocks by index, as they are being streamed
  const blocks = new Map<number, { type: string; id?: string; name?: string; text: string; signature: string; data?: string }>();
  const calls: ToolCall[] = [];
  const thoughts: ThinkingBlock[] = [];
  const usage: AnthropicUsage = {};
  let stopRaw: string | null = null;
  let stopped = false;
  let emitted = false;
  let failure: UpstreamError | undefined;
  try {
    for await (const data of events) {
      let e: any;
      try {
        e = JSON.parse(data);
      } catch {
        failure = new UpstreamError('upstream_protocol', `The model provider sent invalid JSON: ${data.slice(0, 200)}`, { url });
        break;
      }
      const type = e?.type;
      if (type === 'message_start') {
        mergeUsage(usage, e.message?.usage);
      } else if (type === 'content_block_start') {
        const b = e.content_block ?? {};
        blocks.set(e.index, { type: b.type, id: b.id, name: b.name, text: '', signature: '', data: b.data });
        if (b.type === 'text' && typeof b.text === 'string' && b.text) {
          emitted = true;
          yield { type: 'text-delta', text: b.text };
        }
      } else if (type === 'content_block_delta') {
        const d = e.delta ?? {};
        const block = blocks.get(e.index);
        if (d.type === 'text_delta' && typeof d.text === 'string' && d.text) {
          emitted = true;
          yield { type: 'text-delta', text: d.text };
        } else if (d.type === 'thinking_delta' && typeof d.thinking === 'string' && d.thinking) {
          if (block) block.text += d.thinking;
          emitted = true;
          yield { type: 'reasoning-delta', text: d.thinking };
        } else if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
          if (block) block.text += d.partial_json;
        } else if (d.type === 'signature_delta' && typeof d.signature === 'string') {
          if (block) block.signature += d.signature;
        }
      } else if (type === 'content_block_stop') {
        const block = blocks.get(e.index);
        blocks.delete(e.index);
        if (block?.type === 'tool_use') calls.push({ id: block.id ?? '', name: block.name ?? '', arguments: block.text || '{}' });
        else if (block?.type === 'thinking') thoughts.push({ type: 'thinking', thinking: block.text, signature: block.signature });
        else if (block?.type === 'redacted_thinking' && block.data) thoughts.push({ type: 'redacted_thinking', data: block.data });
      } else if (type === 'message_delta') {
        if (e.delta?.stop_reason) stopRaw = e.delta.stop_reason;
        mergeUsage(usage, e.usage);
      } else if (type === 'message_stop') {
        stopped = true;
        break;
      } else if (type === 'error') {
        failure = eventError(e.error, url);
        break;
      }
      // ping, and event types yet to come: nothing to do
    }
  } catch (err) {
    if (req.signal?.aborted) throw err;
    failure = networkError(err, url);
  }

  if (!failure && !stopped) {
    failure = new UpstreamError('upstream_network', 'The model provider closed the stream before the answer finished.', { url });
  }
  if (failure) {
    // Before any output the caller may still retry; after it, the error is part of the stream.
    if (!emitted) throw failure;
    yield { type: 'error', error: failure.toInfo() };
    return;
  }
  if (calls.length && thoughts.length) memo.set(calls[0]!.id, thoughts);
  for (const call of calls) yield { type: 'tool-call', call };
  const finish = mapStopReason(stopRaw);
  yield { type: 'finish', finish_reason: finish.unified, raw_finish_reason: finish.raw, usage: toUsage(usage) };
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

function eventError(error: any, url: string): UpstreamError {
  const type = typeof error?.type === 'string' ? error.type : undefined;
  return new UpstreamError(anthropicCode(type) ?? 'upstream_error', `Anthropic (${type ?? 'error'}): ${error?.message ?? 'error'}`, {
    url,
    providerCode: type,
  });
}
