// The messages sent upstream: the system prompt (+ working memory, the summary of the
// earlier conversation and recalled memories, each in a delimited block), the history
// window as chat messages (tool calls and their results included), then the user's message.
import type { ChatMessage } from '../llm/types.ts';
import type { RecalledMemory } from '../memory/recall.ts';

export interface PromptExtras {
  /** the working-memory block's text (memory.working) */
  working?: string;
  /** the rolling summary of the session's earlier part (memory.summary) */
  summary?: string;
}

export function buildPrompt(
  systemPrompt: string,
  history: ChatMessage[],
  recalled: RecalledMemory[],
  userMessage: string,
  extras: PromptExtras = {},
): ChatMessage[] {
  const out: ChatMessage[] = [];
  const blocks = [systemPrompt];
  if (extras.working !== undefined) blocks.push(workingBlock(extras.working));
  if (extras.summary) blocks.push(summaryBlock(extras.summary));
  if (recalled.length) blocks.push(memoryBlock(recalled));
  const system = blocks.filter(Boolean).join('\n\n');
  if (system) out.push({ role: 'system', content: system });
  for (const m of history) out.push(m);
  out.push({ role: 'user', content: userMessage });
  return out;
}

/** Memories as facts the model may use; the tags let the model (and the simulated one) find them. */
export function memoryBlock(recalled: RecalledMemory[]): string {
  return `Things you remember about this user (from earlier conversations):\n<memory>\n${recalled.map(memoryLine).join('\n')}\n</memory>`;
}

export const memoryLine = (m: RecalledMemory): string => `- ${m.content.replace(/\s*\n\s*/g, ' ')}`;

export function workingBlock(content: string): string {
  return `Your working memory (notes you keep up to date with the working_memory_update tool, when you have it):\n<working_memory>\n${content}\n</working_memory>`;
}

export function summaryBlock(summary: string): string {
  return `Summary of the earlier part of this conversation:\n<summary>\n${summary}\n</summary>`;
}
