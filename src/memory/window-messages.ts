// A stored message as the prompt sends it again, and what that costs in tokens.
// An answer that used tools goes back as the provider formats expect it: per step, an
// assistant message with its tool_calls, one `tool` message per result, then the text.
// The count (o200k, overhead included) is taken once, when the message is stored or
// first loaded, and kept with it: fitting a prompt only adds numbers.
import type { ChatMessage } from '../llm/types.ts';
import { countBounded, EXACT_CHARS, MESSAGE_OVERHEAD } from '../llm/token-count.ts';

/** How long a count may take (ms), and how many characters it counts exactly whatever the clock says. */
export interface CountBudget {
  ms: number;
  exactChars?: number;
}

// A message is counted within this long; the rest of a pathological one (a pasted blob) is bounded by its bytes.
const MESSAGE_BUDGET: CountBudget = { ms: 2 };
/**
 * After the answer, off the request path, a message is counted with this budget: the count is
 * stored with it, and a bound taken on a busy machine would shrink every later window that
 * holds it — a 1,300-character message missed 2 ms under load, and then 50 ms beside CI's
 * load (the thread descheduled between two chunks): up to 32 K characters (~12 ms) are exact.
 */
export const STORED_BUDGET: CountBudget = { ms: 50, exactChars: EXACT_CHARS };
import type { Message } from '../store/repos/messages.ts';

/** A tool call as an answer stores it (agent/turn-types.ts StoredToolCall). */
interface StoredCall {
  id: string;
  name: string;
  arguments: string;
  output?: string;
  error?: string;
  step?: number;
}

/** The chat messages a stored message becomes in a prompt ([] for one that said nothing). */
export function toChatMessages(m: Pick<Message, 'role' | 'content' | 'tool_calls'>): ChatMessage[] {
  if (m.role === 'user') return m.content ? [{ role: 'user', content: m.content }] : [];
  if (m.role !== 'assistant') return [];
  const out: ChatMessage[] = [];
  const calls = (m.tool_calls ?? []) as StoredCall[];
  const steps = new Map<number, StoredCall[]>();
  for (const c of calls) {
    const step = c.step ?? 0;
    steps.set(step, [...(steps.get(step) ?? []), c]);
  }
  for (const [, stepCalls] of [...steps].sort(([a], [b]) => a - b)) {
    out.push({ role: 'assistant', content: null, tool_calls: stepCalls.map(({ id, name, arguments: args }) => ({ id, name, arguments: args })) });
    for (const c of stepCalls) out.push({ role: 'tool', tool_call_id: c.id, content: c.error !== undefined ? `Error: ${c.error}` : (c.output ?? '') });
  }
  if (m.content) out.push({ role: 'assistant', content: m.content });
  return out;
}

/** o200k tokens of chat messages as a request carries them (each with its overhead), each text counted within `budget`. */
export function countChat(messages: ChatMessage[], budget = MESSAGE_BUDGET): number {
  const countText = (text: string) => countBounded(text, budget.ms, budget.exactChars).tokens;
  let n = 0;
  for (const c of messages) {
    n += MESSAGE_OVERHEAD + countText(c.content ?? '');
    for (const t of c.tool_calls ?? []) n += MESSAGE_OVERHEAD + countText(t.name) + countText(t.arguments);
  }
  return n;
}

/** The message's prompt tokens: its stored count, or counted now and kept on the row. */
export function messageTokens(m: Message): number {
  if (m.tokens == null) m.tokens = countChat(toChatMessages(m));
  return m.tokens;
}
