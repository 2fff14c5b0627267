// POST …/v1/messages: Anthropic's Messages API, answered with the same planned turns as
// the chat.completions formats (text, tool calls, reasoning, faults). What it checks, as
// the real API does: `x-api-key` (server.ts authorize), `anthropic-version`, `model`,
// `max_tokens` (required), `messages`, at most 4 cache_control breakpoints. Usage comes
// from the prompt cache (anthropic-cache.ts) under the caller's key.
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { completionTokens, planTurn } from './answer.ts';
import { MAX_BREAKPOINTS, type AnthropicCache, type CacheUsage, type PromptBlock } from './anthropic-cache.ts';
import { messageBody, planMessagesStream } from './anthropic-format.ts';
import { contextWindow, requestTokens } from './context.ts';
import { errorResponse, type ErrorContext, type ErrorKind } from './errors.ts';
import { HTTP_FAULTS, type Fault } from './faults.ts';
import { newIdent } from './formats.ts';
import type { Pacing } from './profiles.ts';
import { dropConnection, playStream, untilAborted } from './stream.ts';
import type { Turn } from './turn.ts';
import { encodeText } from './prompt-tokens.ts';
import { contentText } from './tokens.ts';
import { newMeter, type WriteMeter } from './writer.ts';

type Block = { type?: unknown; text?: unknown; content?: unknown; cache_control?: unknown; [k: string]: unknown };
interface MessagesBody {
  model?: unknown;
  max_tokens?: unknown;
  system?: unknown;
  messages?: unknown;
  tools?: unknown;
  stream?: unknown;
  thinking?: { type?: unknown };
}

export interface MessagesCall {
  res: ServerResponse;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
  options: Record<string, string>;
  apiKey: string;
  fault: Fault | undefined;
  /** the answer's delays, given what the prompt cache served (a profile that charges prefill uses it) */
  pacing(usage: CacheUsage): Pacing;
  cache: AnthropicCache;
  signal: AbortSignal;
  /** set when the answer streams: bytes written and waits for the reader */
  meter(m: WriteMeter): void;
}

export async function answerMessages(c: MessagesCall): Promise<void> {
  const { res, options, fault, signal } = c;
  const fail = (kind: ErrorKind, ctx: ErrorContext = {}) => {
    const e = errorResponse('anthropic', kind, ctx);
    res.writeHead(e.status, e.headers).end(e.body);
  };
  const body = c.body as MessagesBody;
  const problem = requestProblem(body, c.headers);
  if (problem) return fail('invalid_request', { detail: problem });

  const httpFault = fault && HTTP_FAULTS[fault];
  if (httpFault) return fail(httpFault, { model: String(body.model) });
  if (fault === 'hang_before_first_token') return untilAborted(signal);

  const plain = plainMessages(body);
  const window = contextWindow(body.model, options);
  const prompt = requestTokens({ messages: plain, tools: body.tools });
  const maxTokens = body.max_tokens as number;
  if (prompt + maxTokens > window) return fail('context_length', { window, prompt, completion: maxTokens });

  const ident = newIdent('anthropic', body);
  const { turn, cut } = withinMaxTokens(planTurn(plain, options, 'anthropic', body), maxTokens);
  ident.reasoning = turn.reasoning.length;
  const blocks = promptBlocks(body);
  const usage: CacheUsage =
    options.cache === 'off'
      ? { input_tokens: blocks.reduce((n, b) => n + b.tokens, 0), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
      : c.cache.account(c.apiKey, ident.model, blocks);
  const pacing = c.pacing(usage);

  if (body.stream !== true) {
    let wait = pacing.firstTokenMs();
    for (let i = 1; i < completionTokens(turn); i++) wait += pacing.gapMs();
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => {});
    if (signal.aborted) return;
    if (fault === 'disconnect_mid') return dropConnection(res);
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${ident.id.slice(-24)}` });
    return void res.end(messageBody(ident, turn, usage, cut));
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': `req_${ident.id.slice(-24)}`,
    'anthropic-organization-id': '00000000-0000-4000-8000-000000000000',
  });
  res.flushHeaders();
  const meter = newMeter();
  c.meter(meter);
  const mode = fault === 'split_utf8' || fault === 'drip' ? fault : 'whole';
  await playStream(res, planMessagesStream(ident, turn, usage, pacing, fault, cut), mode, signal, meter);
}

/** A text answer longer than max_tokens (thinking included) stops there, with stop_reason max_tokens. */
function withinMaxTokens(turn: Turn, maxTokens: number): { turn: Turn; cut: boolean } {
  if (turn.kind !== 'text' || completionTokens(turn) <= maxTokens) return { turn, cut: false };
  const room = Math.max(0, maxTokens - turn.reasoning.length);
  const reasoning = turn.reasoning.slice(0, maxTokens);
  const tokens = Array.from({ length: room }, (_, i) => turn.tokens[i % turn.tokens.length]!);
  return { turn: { ...turn, reasoning, tokens, text: tokens.join(''), repeat: 1 }, cut: true };
}

/** What the API refuses before anything else, in its words; undefined when the request is well formed. */
function requestProblem(body: MessagesBody, headers: Record<string, string | string[] | undefined>): string | undefined {
  if (!headers['anthropic-version']) return 'anthropic-version: header is required';
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'Input should be a valid dictionary';
  if (typeof body.model !== 'string' || !body.model) return 'model: Field required';
  if (body.max_tokens === undefined) return 'max_tokens: Field required';
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) return 'max_tokens: Input should be greater than or equal to 1';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: Field required';
  for (const [i, m] of (body.messages as Array<{ role?: unknown; content?: unknown }>).entries()) {
    if (m?.role !== 'user' && m?.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (typeof m.content === 'string' ? !m.content : !Array.isArray(m.content) || m.content.length === 0) {
      if (i !== body.messages.length - 1 || m.role !== 'assistant')
        return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    }
    if (Array.isArray(m.content) && m.content.some((b: Block) => b?.type === 'text' && !b.text)) return `messages.${i}: text content blocks must be non-empty`;
  }
  const breakpoints = promptBlocks(body).filter((b) => b.breakpoint).length;
  if (breakpoints > MAX_BREAKPOINTS) return `A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`;
  return undefined;
}

/**
 * The conversation in the chat shape the planner and the token counts read: the system
 * prompt first, tool results as `tool` messages (so the answer after them is text), the
 * other blocks as their text.
 */
function plainMessages(body: MessagesBody): Array<{ role: string; content: string }> {
  const out: Array<{ role: string; content: string }> = [];
  const system = typeof body.system === 'string' ? body.system : contentText(body.system);
  if (system) out.push({ role: 'system', content: system });
  for (const m of body.messages as Array<{ role: string; content: unknown }>) {
    const blocks: Block[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content as Block[]);
    const results = blocks.filter((b) => b?.type === 'tool_result');
    if (results.length)
      out.push({ role: 'tool', content: results.map((b) => (typeof b.content === 'string' ? b.content : contentText(b.content))).join('\n') });
    const text = contentText(blocks.filter((b) => b?.type === 'text'));
    if (text || !results.length) out.push({ role: m.role, content: text });
  }
  return out;
}

/** The prompt in cache order (tools, system, messages), block by block, with its breakpoints. */
function promptBlocks(body: MessagesBody): PromptBlock[] {
  const out: PromptBlock[] = [];
  const add = (where: string, b: Block) => {
    if (!b || typeof b !== 'object') return;
    const { cache_control, ...content } = b;
    const key = `${where}\n${JSON.stringify(content)}`;
    // counted as the other formats count (o200k, prompt-tokens.ts), so usage compares across them
    out.push({ key, tokens: encodeText(typeof b.text === 'string' ? b.text : JSON.stringify(content)).length, breakpoint: !!cache_control });
  };
  if (Array.isArray(body.tools)) for (const t of body.tools) add('tool', t);
  if (typeof body.system === 'string') add('system', { type: 'text', text: body.system });
  else if (Array.isArray(body.system)) for (const b of body.system) add('system', b);
  if (Array.isArray(body.messages)) {
    for (const m of body.messages as Array<{ role?: unknown; content?: unknown }>) {
      if (typeof m?.content === 'string') add(String(m.role), { type: 'text', text: m.content });
      else if (Array.isArray(m?.content)) for (const b of m.content) add(String(m.role), b);
    }
  }
  return out;
}
