// The messages sent upstream, ordered so that the prompt's prefix stays put from turn to
// turn and a provider's prefix cache serves it (docs/memory.md, "Where each part goes"):
//   1. the system message: the system prompt, then the summary of the earlier conversation
//      (it changes only at the window's chunk points, where the history changes anyway)
//   2. the history window as chat messages (tool calls and their results included):
//      append-only between the window's chunk points (context-window.ts)
//   3. the turn, in the user's message: what may change from one turn to the next in
//      delimited blocks (working memory, then the memories recalled for this message),
//      then the message as the user wrote it
// Tool definitions go beside the messages in the order the agent's config gives them.
import type { ChatMessage } from '../llm/types.ts';
import type { RecalledMemory } from '../memory/recall.ts';

export interface PromptExtras {
  /** the working-memory block's text (memory.working) */
  working?: string;
  /** the rolling summary of the session's earlier part (memory.summary) */
  summary?: string;
}

/** A part of the prompt, named for how often it changes; sent in this order. */
export type SegmentKind = 'system' | 'history' | 'turn';

export interface PromptSegment {
  kind: SegmentKind;
  /**
   * The segment stays the same from one turn to the next (the system message until the
   * summary changes, the history until the window gives way: both at the window's chunk
   * points): a prefix cache may end after it. The turn's segment never is.
   */
  stable: boolean;
  messages: ChatMessage[];
}

/** The prompt as ordered segments. */
export function promptSegments(
  systemPrompt: string,
  history: ChatMessage[],
  recalled: RecalledMemory[],
  userMessage: string,
  extras: PromptExtras = {},
): PromptSegment[] {
  const system = [systemPrompt, extras.summary && summaryBlock(extras.summary)].filter(Boolean).join('\n\n');
  return [
    { kind: 'system', stable: true, messages: system ? [{ role: 'system', content: system }] : [] },
    { kind: 'history', stable: true, messages: history },
    { kind: 'turn', stable: false, messages: [{ role: 'user', content: turnMessage(userMessage, recalled, extras.working) }] },
  ];
}

/** The messages of a prompt, and where its stable segments end. */
export interface Prompt {
  messages: ChatMessage[];
  /**
   * Indexes into `messages` of the last message of each non-empty stable segment, in
   * order: where a provider with explicit cache breakpoints (Anthropic's `cache_control`)
   * puts them. Messages appended later (a turn's tool steps) leave them valid.
   */
  breakpoints: number[];
}

export function flattenPrompt(segments: PromptSegment[]): Prompt {
  const messages: ChatMessage[] = [];
  const breakpoints: number[] = [];
  for (const s of segments) {
    messages.push(...s.messages);
    if (s.stable && s.messages.length) breakpoints.push(messages.length - 1);
  }
  return { messages, breakpoints };
}

export function buildPrompt(
  systemPrompt: string,
  history: ChatMessage[],
  recalled: RecalledMemory[],
  userMessage: string,
  extras: PromptExtras = {},
): ChatMessage[] {
  return flattenPrompt(promptSegments(systemPrompt, history, recalled, userMessage, extras)).messages;
}

/**
 * The user's message as this turn sends it: working memory and the memories recalled for
 * it first, each in its block, then the message as the user wrote it. The stored message
 * (and so the next turn's history) is the user's text alone.
 */
export function turnMessage(userMessage: string, recalled: RecalledMemory[], working?: string): string {
  const blocks: string[] = [];
  if (working !== undefined) blocks.push(workingBlock(working));
  if (recalled.length) blocks.push(memoryBlock(recalled));
  blocks.push(userMessage);
  return blocks.join('\n\n');
}

/** Memories as facts the model may use; the tags let the model (and the simulated one) find them. */
export function memoryBlock(recalled: RecalledMemory[]): string {
  return `Things you remember about this user (from earlier conversations; use them when they help with the message below):\n<memory>\n${recalled.map(memoryLine).join('\n')}\n</memory>`;
}

export const memoryLine = (m: RecalledMemory): string => `- ${m.content.replace(/\s*\n\s*/g, ' ')}`;

export function workingBlock(content: string): string {
  return `Your working memory (notes you keep up to date with the working_memory_update tool, when you have it):\n<working_memory>\n${content}\n</working_memory>`;
}

export function summaryBlock(summary: string): string {
  return `Summary of the earlier part of this conversation:\n<summary>\n${summary}\n</summary>`;
}
