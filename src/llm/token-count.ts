// Token counts for fitting a prompt into a model's window. OpenAI-family models are
// counted exactly with gpt-tokenizer's o200k_base (the encoding of gpt-4o, gpt-4.1,
// gpt-5, o1/o3/o4); every other model (GLM, DeepSeek, local ones) gets an estimate:
// the o200k count plus ESTIMATE_MARGIN, which over-counts rather than under-counts
// (their vocabularies are of a similar size; Chinese text counts fewer tokens in them).
// Counts are taken once per message, when it is stored or loaded, never per turn.
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { LRUCache } from 'lru-cache';

/** Extra share a non-OpenAI model's count is assumed to need over o200k's. */
export const ESTIMATE_MARGIN = 0.2;
/** What a chat message costs besides its text (role and delimiters); OpenAI's is 3 plus the role's 1. */
export const MESSAGE_OVERHEAD = 5;
/** The tokens that prime the reply (OpenAI: 3). */
export const REPLY_PRIMING = 3;

// BPE's cost grows with the square of a piece's length, and a run of letters with no
// space or punctuation (a pasted blob, "aaaa…", unpunctuated Chinese) is one piece: 25,000
// letters took seconds. Such runs are counted in slices, each slice as a piece of its own,
// plus a token per cut (merges across a cut are lost, so slices never count fewer).
// Random text (base64, keys) is slow even in short pieces (about 20 ms per 1,000 characters
// the first time), so a text is counted in chunks against a time budget, and what the budget
// does not cover is bounded by its UTF-8 length (an o200k token is at least one byte).
const LONG_RUN = /[\p{L}\p{M}]{128,}/gu;
const SLICE = 64;
const CHUNK = 512;
/**
 * Characters a count takes exactly whatever the clock says, where an exact count matters (a
 * stored message, a message whose bound made something give way): ~12 ms of counting.
 */
export const EXACT_CHARS = 32_768;
/** How long one count may take before the rest of the text is bounded instead, ms. */
export const COUNT_BUDGET_MS = 20;

/**
 * Whether `text` may hold a LONG_RUN: a run of 128 characters none of which is ASCII space,
 * digit or punctuation (letters and marks are never those). Most texts have none, and this
 * scan costs a tenth of the regular expression's.
 */
function mayHoldLongRun(text: string): boolean {
  for (let i = 0, run = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x41 || (c > 0x5a && c < 0x61) || (c > 0x7a && c < 0x80)) run = 0;
    else if (++run >= 128) return true;
  }
  return false;
}

function countPiece(text: string): number {
  if (text.length < 128 || !mayHoldLongRun(text)) return countTokens(text);
  let n = 0;
  let last = 0;
  for (const run of text.matchAll(LONG_RUN)) {
    n += countTokens(text.slice(last, run.index));
    const r = run[0];
    for (let i = 0; i < r.length; i += SLICE) n += countTokens(r.slice(i, i + SLICE)) + 1;
    last = run.index + r.length;
  }
  return last === 0 ? countTokens(text) : n + countTokens(text.slice(last));
}

/**
 * o200k tokens of a text within `budgetMs`: exact (long letter runs sliced), or an upper bound
 * past the budget. The first `exactChars` are counted whatever the clock says: a budget in time
 * alone gives way when the thread is merely descheduled (a busy machine, a GC pause).
 */
export function countBounded(text: string, budgetMs = COUNT_BUDGET_MS, exactChars = 0): { tokens: number; exact: boolean } {
  if (text.length <= CHUNK) return { tokens: text ? countPiece(text) : 0, exact: true };
  const started = performance.now();
  let n = 0;
  for (let i = 0; i < text.length;) {
    let end = Math.min(text.length, i + CHUNK);
    if (end < text.length) {
      const space = text.lastIndexOf(' ', end);
      if (space > i + CHUNK / 2) end = space;
      else if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end--; // never between a surrogate pair
    }
    n += countPiece(text.slice(i, end)) + (i > 0 ? 1 : 0);
    i = end;
    if (i < text.length && i >= exactChars && performance.now() - started > budgetMs) return { tokens: n + Buffer.byteLength(text.slice(i)), exact: false };
  }
  return { tokens: n, exact: true };
}

/** o200k tokens of a text (an upper bound for what COUNT_BUDGET_MS does not cover). */
export function countText(text: string): number {
  return countBounded(text).tokens;
}

// Texts that recur turn after turn (system prompts, memories, summaries, working memory),
// counted when they are stored or loaded, so a turn finds them here.
const texts = new LRUCache<string, number>({ max: 20_000, maxSize: 64 * 1024 * 1024, sizeCalculation: (_, k) => k.length + 1 });

// A count that ran out of its budget (a busy machine, a pathological text) is an upper
// bound: counted again on its next few uses, so that a moment of load does not shrink the
// room of every later prompt (and move the window's chunk points) for as long as it is cached.
const RECOUNTS = 3;
const bounded = new LRUCache<string, number>({ max: 1_000 });

/** o200k tokens of a text that recurs, from the cache when it was counted before. */
export function cachedCount(text: string): number {
  let n = texts.get(text);
  const tries = n === undefined ? 0 : bounded.get(text);
  if (n === undefined || tries !== undefined) {
    const count = countBounded(text);
    n = n === undefined ? count.tokens : Math.min(n, count.tokens);
    texts.set(text, n);
    if (count.exact || (tries ?? 0) + 1 >= RECOUNTS) bounded.delete(text);
    else bounded.set(text, (tries ?? 0) + 1);
  }
  return n;
}

/** Is this model counted exactly (o200k), or estimated? */
export function isExactModel(model: string): boolean {
  return /^(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4)/i.test(model);
}

/** Turns stored o200k counts into this model's tokens (an estimate for others). */
export function scaleFor(model: string): number {
  return isExactModel(model) ? 1 : 1 + ESTIMATE_MARGIN;
}

/** A model's context window when the agent's config names none; DEFAULT_CONTEXT_TOKENS otherwise. */
export const DEFAULT_CONTEXT_TOKENS = 32_768;
const KNOWN_WINDOWS: Array<[RegExp, number]> = [
  [/^gpt-4\.1/i, 1_047_576],
  [/^gpt-5/i, 400_000],
  [/^(?:o1|o3|o4)/i, 200_000],
  [/^(?:gpt-4o|chatgpt-4o|gpt-4-turbo|gpt-4\.5)/i, 128_000],
  [/^gpt-3\.5-turbo/i, 16_385],
  [/^gpt-4(?:-0613|-0314)?$/i, 8_192],
  [/^glm-4-long/i, 1_000_000],
  [/^glm-4/i, 128_000],
  [/^deepseek-/i, 65_536],
  [/^claude-/i, 200_000],
];

export function contextWindowOf(model: string): number {
  for (const [re, n] of KNOWN_WINDOWS) if (re.test(model)) return n;
  return DEFAULT_CONTEXT_TOKENS;
}

// The first count pays for building the merge cache: paid at start, not in a request.
countText('warm up the tokenizer once');
