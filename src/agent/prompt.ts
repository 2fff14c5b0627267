// The messages sent upstream: system prompt (+ recalled memories in a delimited
// block), the history window, then the user's message.
import type { ChatMessage } from '../llm/types.ts';
import type { Message } from '../store/repos/messages.ts';

export interface RecalledMemory {
  id: string;
  content: string;
  score: number;
  metadata?: Record<string, unknown>;
}

export function buildPrompt(systemPrompt: string, history: Array<Message | ChatMessage>, recalled: RecalledMemory[], userMessage: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  const system = recalled.length ? `${systemPrompt}\n\n${memoryBlock(recalled)}` : systemPrompt;
  if (system) out.push({ role: 'system', content: system });
  // Earlier turns as text: a stored answer keeps its tool calls for the record, but the
  // model only needs what was said (a tool_calls message without its results is invalid).
  for (const m of history) {
    if ((m.role === 'user' || m.role === 'assistant') && m.content) out.push({ role: m.role, content: m.content });
  }
  out.push({ role: 'user', content: userMessage });
  return out;
}

/** Memories as facts the model may use; the tags let the model (and the simulated one) find them. */
export function memoryBlock(recalled: RecalledMemory[]): string {
  const lines = recalled.map((m) => `- ${m.content.replace(/\s*\n\s*/g, ' ')}`);
  return `Things you remember about this user (from earlier conversations):\n<memory>\n${lines.join('\n')}\n</memory>`;
}
