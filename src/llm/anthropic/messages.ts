// Our conversation (ChatMessage[]) as a Messages API request: the leading system
// messages become `system` text blocks, the rest alternating user/assistant turns of
// content blocks: an assistant's tool calls are `tool_use` blocks, tool results go back
// in a user turn as `tool_result` blocks, a system message later in the conversation
// (per-turn context placed beside the user's message) becomes text of that user turn.
//
// Prompt caching: Anthropic caches only prefixes that end at a `cache_control`
// breakpoint (tools → system → messages, in that order), and looks back from each
// breakpoint for a prefix it wrote before. The breakpoints go where the prompt's stable
// parts end (`cache_breakpoints`, from agent/prompt.ts: the system message, the history),
// so the system block's covers the tools too. A request that names none (a background
// task, a client's own conversation) gets the same two by shape: the last system block,
// and the last block before this turn's part (the final user message and any system
// text just before it). The next turn's history ends where this turn's answer ended, so
// its breakpoint finds this one's prefix within the look-back. At most 4, as the API allows.
import type { ChatMessage, LlmRequest, ToolCall } from '../types.ts';

export type CacheControl = { type: 'ephemeral' };
export type TextBlock = { type: 'text'; text: string; cache_control?: CacheControl };
/** What a thinking model wrote before a tool call; sent back verbatim (signature included) in the same turn. */
export type ThinkingBlock = { type: 'thinking'; thinking: string; signature: string } | { type: 'redacted_thinking'; data: string };
export type ContentBlock =
  | TextBlock
  | ThinkingBlock
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown>; cache_control?: CacheControl }
  | { type: 'tool_result'; tool_use_id: string; content?: string; cache_control?: CacheControl };
export interface WireMessage {
  role: 'user' | 'assistant';
  content: ContentBlock[];
}
export interface WireTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  cache_control?: CacheControl;
}

export interface Prompt {
  system: TextBlock[];
  messages: WireMessage[];
  tools: WireTool[];
  /** the last assistant turn calls tools but its thinking blocks are not known (thinking must then stay off) */
  missingThinking: boolean;
}

const EPHEMERAL: CacheControl = { type: 'ephemeral' };
/** the most cache_control blocks a request may carry */
const MAX_BREAKPOINTS = 4;

/** `thinkingFor(callId)`: the thinking blocks that came before a tool call this provider streamed. */
export function toPrompt(
  req: Pick<LlmRequest, 'messages' | 'tools' | 'cache_breakpoints'>,
  thinkingFor: (callId: string) => ThinkingBlock[] | undefined = () => undefined,
): Prompt {
  const all = req.messages;
  let lead = 0;
  while (lead < all.length && all[lead]!.role === 'system') lead++;
  // the last block each message led to (a message with no content: the one before it)
  const lastBlock: Array<ContentBlock | undefined> = [];
  const system: TextBlock[] = [];
  for (let i = 0; i < lead; i++) {
    if (all[i]!.content) system.push({ type: 'text', text: all[i]!.content! });
    lastBlock.push(system.at(-1));
  }

  const messages: WireMessage[] = [];
  for (let i = lead; i < all.length; i++) {
    const m = all[i]!;
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const blocks = contentOf(m, thinkingFor);
    if (!blocks.length) {
      lastBlock.push(lastBlock.at(-1));
      continue;
    }
    const last = messages.at(-1);
    // consecutive turns of one role are one turn (several tool results, per-turn text + the user's message)
    if (last?.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
    lastBlock.push(blocks.at(-1));
  }

  const tools: WireTool[] = (req.tools ?? []).map((t) => ({
    name: t.name,
    ...(t.description ? { description: t.description } : {}),
    input_schema: t.parameters,
  }));
  const ends = (req.cache_breakpoints ?? byShape(all, lead)).filter((i) => i >= 0 && i < all.length);
  const marked = new Set<Exclude<ContentBlock, ThinkingBlock> | WireTool>();
  // no system block to carry it: the tools' end is the stable part
  if (tools.length && !ends.some((i) => i < lead && lastBlock[i])) marked.add(tools.at(-1)!);
  for (const i of ends) {
    const block = lastBlock[i];
    if (block && block.type !== 'thinking' && block.type !== 'redacted_thinking') marked.add(block);
  }
  for (const b of [...marked].slice(-MAX_BREAKPOINTS)) b.cache_control = EPHEMERAL;
  return { system, messages, tools, missingThinking: toolLoopWithoutThinking(messages) };
}

/** Mid tool loop (the conversation ends with tool results), is the calling turn's thinking missing? */
function toolLoopWithoutThinking(messages: WireMessage[]): boolean {
  const [asked, results] = messages.slice(-2);
  if (asked?.role !== 'assistant' || !results?.content.some((b) => b.type === 'tool_result')) return false;
  return !asked.content.some((b) => b.type === 'thinking' || b.type === 'redacted_thinking');
}

/**
 * Breakpoints for a request that names none: the last system message, and the message
 * before this turn's own part (the last user message, with the system messages right before it).
 */
function byShape(all: ChatMessage[], lead: number): number[] {
  const ends = lead > 0 ? [lead - 1] : [];
  let i = all.length - 1;
  while (i >= lead && all[i]!.role !== 'user') i--;
  if (i < lead) return [...ends, all.length - 1];
  while (i - 1 >= lead && all[i - 1]!.role === 'system') i--;
  return i - 1 >= lead ? [...ends, i - 1] : ends;
}

function contentOf(m: ChatMessage, thinkingFor: (callId: string) => ThinkingBlock[] | undefined): ContentBlock[] {
  if (m.role === 'tool') {
    return [{ type: 'tool_result', tool_use_id: m.tool_call_id ?? '', ...(m.content ? { content: m.content } : {}) }];
  }
  // the API refuses empty text blocks
  const text: ContentBlock[] = m.content ? [{ type: 'text', text: m.content }] : [];
  if (m.role !== 'assistant' || !m.tool_calls?.length) return text;
  const thinking = thinkingFor(m.tool_calls[0]!.id) ?? [];
  return [...thinking, ...text, ...m.tool_calls.map(toolUse)];
}

function toolUse(c: ToolCall): ContentBlock {
  return { type: 'tool_use', id: c.id, name: c.name, input: argumentsObject(c.arguments) };
}

/** `input` must be an object: a model's unparsable arguments go back as an empty one. */
function argumentsObject(args: string): Record<string, unknown> {
  try {
    const v = JSON.parse(args || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}
