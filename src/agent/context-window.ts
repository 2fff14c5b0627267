// Fits a turn's prompt into the model's window: max_context_tokens minus the tokens
// reserved for the answer (max_tokens). Every part is counted once (messages when
// stored or loaded, texts in a small cache), so fitting adds numbers and nothing else.
// The window of stored messages gives way in chunks, so that the prompt's prefix stays put
// for many turns (docs/memory.md): when it holds more than memory.last_messages, or more
// tokens than the budget leaves it, it drops to a low-water mark (half of either, from an
// exchange's start) and is appended to from there; the session stores where it starts.
// When the parts still do not fit, they give way in this order:
//   1. the oldest window messages, down to the last exchange (an answer goes with its
//      tool calls and results, never one without the other)
//   2. recalled memories, the lowest-ranked first
//   3. the last exchange
//   4. the summary of the earlier conversation
//   5. working memory
// The system prompt and the user's message are never cut: when they alone do not fit,
// the turn is refused (`context_too_long`) before anything is sent upstream.
import type { ChatMessage, ToolSpec } from '../llm/types.ts';
import {
  cachedCount,
  contextWindowOf,
  COUNT_BUDGET_MS,
  countBounded,
  countText,
  EXACT_CHARS,
  MESSAGE_OVERHEAD,
  REPLY_PRIMING,
  scaleFor,
} from '../llm/token-count.ts';
import { countChat, messageTokens, toChatMessages } from '../memory/window-messages.ts';
import type { Message } from '../store/repos/messages.ts';
import type { RecalledMemory } from '../memory/recall.ts';
import { flattenPrompt, memoryBlock, promptSegments, summaryBlock, workingBlock } from './prompt.ts';

/** When `max_tokens` is unset: this much of the window stays free for the answer (at most 1/8 of it). */
export const DEFAULT_ANSWER_RESERVE = 4_096;

export interface Budget {
  /** the model's window */
  window: number;
  /** tokens the prompt may use (window − the answer's reserve) */
  limit: number;
  /** stored o200k counts × this = the model's tokens (1 for OpenAI-family models) */
  scale: number;
}

export function budgetOf(llm: { model: string; max_context_tokens?: number; max_tokens?: number }): Budget {
  const window = llm.max_context_tokens ?? contextWindowOf(llm.model);
  const reserve = llm.max_tokens ?? Math.min(DEFAULT_ANSWER_RESERVE, Math.floor(window / 8));
  return { window, limit: Math.max(0, window - reserve), scale: scaleFor(llm.model) };
}

const SLACK = 16;

// A block costs its content's tokens (counted when stored or loaded) and its frame's,
// counted here once: the frame with empty content, plus a token for each join.
const frame = (block: (content: string) => string) => countText(block('')) + 2;
const WORKING_FRAME = frame(workingBlock);
const SUMMARY_FRAME = frame(summaryBlock);
const MEMORY_FRAME = countText(memoryBlock([])) + 2; // and the blank line before the user's text
const LINE_FRAME = 3; // "- " and the newline
const specCounts = new WeakMap<object, number>();
function specTokens(specs: ToolSpec[] | undefined, key: object | undefined): number {
  if (!specs?.length) return 0;
  const hit = key && specCounts.get(key);
  if (hit) return hit;
  const count = countBounded(JSON.stringify(specs.map((s) => ({ type: 'function', function: s }))), COUNT_BUDGET_MS);
  if (key && count.exact) specCounts.set(key, count.tokens); // (a bound, when the machine was busy, is counted again next time)
  return count.tokens;
}
// A client's own history (OpenAI-style requests) has no stored count: counted per object.
const chatCounts = new WeakMap<ChatMessage, number>();

export class ContextTooLongError extends Error {
  constructor(
    readonly needed: number,
    readonly limit: number,
  ) {
    super(
      `The message needs about ${needed} tokens with the system prompt, more than the ${limit} this agent's model has for a prompt (llm.max_context_tokens minus llm.max_tokens). Send a shorter message.`,
    );
  }
}

/** The user's message count: exact, or an upper bound (see countBounded) until it matters. */
export interface UserCount {
  tokens: number;
  exact: boolean;
}

// Before the first token a message gets this long to be counted (µs for a usual one);
// what is left is bounded by its bytes, and counted further only when the bound does not fit.
const USER_BUDGET_MS = 0.5;
const EXACT_BUDGET_MS = 50;

export function countUser(message: string): UserCount {
  return countBounded(message, USER_BUDGET_MS);
}

function exactly(user: UserCount, message: string): UserCount {
  if (!user.exact) Object.assign(user, countBounded(message, EXACT_BUDGET_MS, EXACT_CHARS), { exact: true });
  return user;
}

/** checkFits for a turn's message: counted exactly when its bound does not fit. */
export function checkUserFits(budget: Budget, parts: Omit<Parameters<typeof checkFits>[1], 'userTokens'>, message: string, user: UserCount): void {
  try {
    checkFits(budget, { ...parts, userTokens: user.tokens });
  } catch (err) {
    if (user.exact || !(err instanceof ContextTooLongError)) throw err;
    checkFits(budget, { ...parts, userTokens: exactly(user, message).tokens });
  }
}

/** fitPrompt for a turn's message: when its bound made anything give way (the window's chunk included), counted exactly and fitted again. */
export function fitTurn(budget: Budget, parts: Omit<PromptParts, 'userTokens'>, user: UserCount): FittedPrompt {
  const fitted = fitPrompt(budget, { ...parts, userTokens: user.tokens });
  const { dropped: d } = fitted;
  if (user.exact || !(d.messages || d.recalled || d.summary || d.working)) return fitted;
  return fitPrompt(budget, { ...parts, userTokens: exactly(user, parts.user).tokens });
}

export interface PromptParts {
  systemPrompt: string;
  working?: string;
  summary?: string;
  recalled: RecalledMemory[];
  /** the window, oldest first: stored messages or a client's own chat messages */
  history: Array<Message | ChatMessage>;
  user: string;
  /** o200k tokens of the user's message text */
  userTokens: number;
  tools?: ToolSpec[];
  /** a stable object for the tools (the agent's config), so their count is kept */
  toolsKey?: object;
  /** stored history: the window's size in messages (memory.last_messages); past it, or past the budget, the window gives way in a chunk */
  maxMessages?: number;
}

export interface FittedPrompt {
  messages: ChatMessage[];
  /** where the prompt's stable parts end (prompt.ts Prompt.breakpoints) */
  breakpoints: number[];
  /** the prompt's tokens as counted (the model's, scaled) */
  tokens: number;
  limit: number;
  /** what gave way */
  dropped: { messages: number; recalled: number; summary: boolean; working: boolean };
  /** the window gave way in a chunk: the seq of the first message it keeps from now on (to store) */
  windowStart?: number;
  /** the window will be full by the next turn: what a summary made now should leave of it (its low-water mark) */
  windowFull?: { keepMessages: number; keepTokens: number };
}

/**
 * How many exchanges ahead of a full window its summary is asked for: up to 3, no more than
 * an eighth of what a chunk holds (a window of 10 asks one exchange ahead, of 100 three).
 */
export const foldAhead = (max: number): number => Math.max(1, Math.min(3, Math.floor((max - lowWaterMessages(max)) / 8)));

/** Down to this many messages when the window passes `max` (a small window slides as it always did). */
export const lowWaterMessages = (max: number): number => (max < 6 ? max : Math.floor(max / 2));

type Unit = { m: Message | ChatMessage; tokens: number };

/**
 * Where the window starts after giving way: the newest messages up to the low-water mark
 * (`low` messages, `lowTokens`), from a user's message (an exchange is kept whole): the
 * exchange across the mark too when the window still holds it (`high`, `room`).
 */
function lowWater(units: Unit[], low: number, lowTokens: number, high: number, room: number): number {
  let i = units.length;
  let tokens = 0;
  while (i > 0 && units.length - i < low && tokens + units[i - 1]!.tokens <= lowTokens) tokens += units[--i]!.tokens;
  let back = i;
  let withBack = tokens;
  while (back > 0 && units[back]?.m.role !== 'user') withBack += units[--back]!.tokens;
  if (units[back]?.m.role === 'user' && units.length - back <= high && withBack <= room) return back;
  while (i < units.length && units[i]!.m.role !== 'user') i++;
  return i;
}

/** The tokens the system prompt, the user's message and the tools need in any case. */
export function fixedTokens(parts: Pick<PromptParts, 'systemPrompt' | 'userTokens' | 'tools' | 'toolsKey'>): number {
  return REPLY_PRIMING + MESSAGE_OVERHEAD * 2 + cachedCount(parts.systemPrompt) + parts.userTokens + specTokens(parts.tools, parts.toolsKey);
}

/** Throws ContextTooLongError when the system prompt and the user's message alone exceed the budget. */
export function checkFits(budget: Budget, parts: Pick<PromptParts, 'systemPrompt' | 'userTokens' | 'tools' | 'toolsKey'>): void {
  const needed = Math.ceil(fixedTokens(parts) * budget.scale);
  if (needed > budget.limit) throw new ContextTooLongError(needed, budget.limit);
}

/** A window entry's prompt tokens (0: it sends nothing): stored with our messages, counted once for a client's. */
function tokensOf(m: Message | ChatMessage): number {
  if ('seq' in m) return messageTokens(m);
  if ((m.role !== 'user' && m.role !== 'assistant') || !m.content) return 0;
  let n = chatCounts.get(m);
  if (n === undefined) chatCounts.set(m, (n = countChat([{ role: m.role, content: m.content }])));
  return n;
}

/** What a kept entry sends (a client's history: its text turns as they are). */
const chatOf = (m: Message | ChatMessage): ChatMessage[] => ('seq' in m ? toChatMessages(m) : [{ role: m.role, content: m.content }]);

export function fitPrompt(budget: Budget, parts: PromptParts): FittedPrompt {
  const { scale } = budget;
  // Everything in stored (o200k) units; the limit scaled down to them once, less a slack
  // for the joins between counted parts (a concatenation may count a token or two more).
  const limit = Math.floor(budget.limit / scale) - SLACK - Math.ceil(budget.limit * 0.005);
  let total = fixedTokens(parts);
  // Only the counts until it is decided what stays; only what stays becomes chat messages.
  const units: Array<{ m: Message | ChatMessage; tokens: number }> = [];
  let history = 0;
  for (const m of parts.history) {
    const tokens = tokensOf(m);
    if (tokens > 0) {
      units.push({ m, tokens });
      history += tokens;
    }
  }
  const recalled = parts.recalled.map((m) => cachedCount(m.content) + LINE_FRAME);
  const recalledTotal = recalled.length ? recalled.reduce((a, b) => a + b, 0) + MEMORY_FRAME : 0;
  const summary = parts.summary ? cachedCount(parts.summary) + SUMMARY_FRAME : 0;
  const working = parts.working !== undefined ? cachedCount(parts.working) + WORKING_FRAME : 0;
  total += history + recalledTotal + summary + working;

  const dropped = { messages: 0, recalled: 0, summary: false, working: false };
  let first = 0; // the oldest unit kept
  let kept = parts.recalled.length;
  // 0. the window in chunks: past its size or its room, down to the low-water mark
  let windowStart: number | undefined;
  let windowFull: FittedPrompt['windowFull'];
  const newest = parts.history.at(-1);
  if (parts.maxMessages !== undefined && newest && 'seq' in newest) {
    const room = limit - (total - history); // what the history may use this turn
    if (parts.history.length > parts.maxMessages || history > room) {
      first = lowWater(units, lowWaterMessages(parts.maxMessages), Math.floor(room / 2), parts.maxMessages, room);
      for (let i = 0; i < first; i++) total -= units[i]!.tokens;
      const start = units[first]?.m;
      windowStart = start && 'seq' in start ? start.seq : newest.seq + 1;
    }
    // Full within a few turns (this exchange added, each next one as long as this one)? A
    // summary asked for now has those turns to land (a job waits while a turn awaits its
    // first token), so it and the window change on one turn, not on two in a row.
    let kept = 0;
    let lastAnswer = 0;
    for (let i = first; i < units.length; i++) {
      kept += units[i]!.tokens;
      if (units[i]!.m.role === 'assistant') lastAnswer = units[i]!.tokens;
    }
    const keepTokens = Math.floor(room / 2);
    const ahead = foldAhead(parts.maxMessages);
    const exchange = parts.userTokens + MESSAGE_OVERHEAD + lastAnswer;
    if (units.length - first + 2 * ahead > parts.maxMessages || kept + ahead * exchange > room) {
      windowFull = { keepMessages: lowWaterMessages(parts.maxMessages), keepTokens };
    }
  }
  // 1. oldest messages, down to the last exchange
  const lastExchange = Math.max(0, units.length - 2);
  while (total > limit && first < lastExchange) total -= units[first++]!.tokens;
  // 2. recalled memories, lowest-ranked (last) first
  while (total > limit && kept > 0) {
    total -= recalled[--kept]!;
    if (kept === 0) total -= MEMORY_FRAME;
  }
  // 3. the last exchange
  while (total > limit && first < units.length) total -= units[first++]!.tokens;
  // 4. the summary, 5. working memory
  let withSummary = Boolean(parts.summary);
  if (total > limit && withSummary) {
    total -= summary;
    withSummary = false;
    dropped.summary = true;
  }
  let withWorking = parts.working !== undefined;
  if (total > limit && withWorking) {
    total -= working;
    withWorking = false;
    dropped.working = true;
  }
  dropped.messages = first;
  dropped.recalled = parts.recalled.length - kept;

  const window: ChatMessage[] = [];
  for (let i = first; i < units.length; i++) window.push(...chatOf(units[i]!.m));
  const { messages, breakpoints } = flattenPrompt(
    promptSegments(parts.systemPrompt, window, parts.recalled.slice(0, kept), parts.user, {
      working: withWorking ? parts.working : undefined,
      summary: withSummary ? parts.summary : undefined,
    }),
  );
  return { messages, breakpoints, tokens: Math.ceil(total * scale), limit: budget.limit, dropped, windowStart, windowFull };
}
