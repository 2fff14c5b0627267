// The embedded default model: no network, deterministic answers that visibly use
// the user's message and the recalled memories, paced by a latency profile
// (first_token_ms, tokens_per_s). It also answers memory-extraction requests
// (see memory/extraction-prompt.ts), so memory works end to end offline.
import { setTimeout as delay } from 'node:timers/promises';
import { collect } from '../complete.ts';
import { EXTRACTION_MARKER, SUMMARY_MARKER } from '../task-markers.ts';
import type { ChatMessage, LlmRequest, Provider, ProviderConfig, StreamPart } from '../types.ts';
import { simulatedExtraction } from './extract.ts';
import { simulatedSummary } from './summarize.ts';

export function createSimulated(config: ProviderConfig): Provider {
  const firstTokenMs = config.simulated?.first_token_ms ?? 0;
  const tokensPerS = config.simulated?.tokens_per_s ?? 0;

  async function* stream(req: LlmRequest): AsyncGenerator<StreamPart> {
    const text = answer(req.messages);
    const tokens = tokenize(text);
    if (firstTokenMs > 0) await delay(firstTokenMs, undefined, { signal: req.signal });
    const gap = tokensPerS > 0 ? 1000 / tokensPerS : 0;
    for (let i = 0; i < tokens.length; i++) {
      if (i > 0 && gap > 0) await delay(gap, undefined, { signal: req.signal });
      req.signal?.throwIfAborted();
      yield { type: 'text-delta', text: tokens[i]! };
    }
    const prompt = Math.ceil(req.messages.reduce((n, m) => n + (m.content?.length ?? 0), 0) / 4);
    yield {
      type: 'finish',
      finish_reason: 'stop',
      raw_finish_reason: 'stop',
      usage: { prompt_tokens: prompt, completion_tokens: tokens.length, total_tokens: prompt + tokens.length, cached_prompt_tokens: 0 },
    };
  }

  return { name: 'simulated', stream, complete: (req) => collect(stream(req)) };
}

const TURN_BLOCK = /^[^\n]*\n<(working_memory|memory)>\n([\s\S]*?)\n<\/\1>\n\n/;

/** What the simulated model says: it repeats the question and what it remembers. */
export function answer(messages: ChatMessage[]): string {
  const system = messages[0]?.role === 'system' ? (messages[0].content ?? '') : '';
  const asked = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  if (system.startsWith(EXTRACTION_MARKER)) return simulatedExtraction(asked);
  if (system.startsWith(SUMMARY_MARKER)) return simulatedSummary(system);
  // Working memory and the recalled memories come in blocks at the head of the user's message (agent/prompt.ts).
  const blocks: Record<string, string> = {};
  let user = asked;
  for (let b = TURN_BLOCK.exec(user); b; b = TURN_BLOCK.exec(user)) {
    blocks[b[1]!] = b[2]!;
    user = user.slice(b[0].length);
  }
  const memory = blocks.memory;
  const facts = memory
    ? memory
        .split('\n')
        .map((l) => l.replace(/^- /, '').trim())
        .filter(Boolean)
    : [];
  // Working memory and the summary show in the answer too, on a line of their own.
  const notes = blocks.working_memory?.trim();
  const summary = /<summary>\n([\s\S]*?)\n<\/summary>/.exec(system)?.[1]?.trim();
  const turns = messages.filter((m) => m.role === 'user').length;
  let out = `You said: "${user}".`;
  if (facts.length) out += ` I remember: ${facts.join('; ')}.`;
  const inline = (text: string) => text.replace(/\s*\n\s*/g, ' | ').replace(/[.\s]+$/, '');
  if (notes) out += ` My notes: ${inline(notes)}.`;
  if (summary) out += ` Earlier: ${inline(summary)}.`;
  if (turns > 1) out += ` (turn ${turns} of this conversation)`;
  return out;
}

/** Word-sized tokens; Han characters one or two at a time. Joined, they are the text exactly. */
export function tokenize(text: string): string[] {
  return text.match(/\p{Script=Han}{1,2}|\s*[^\s\p{Script=Han}]+\s*|\s+/gu) ?? [];
}
