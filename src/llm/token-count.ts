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

/** o200k tokens of a text. */
export function countText(text: string): number {
  return text ? countTokens(text) : 0;
}

// Texts that recur turn after turn (system prompts, memories, summaries, working memory),
// counted when they are stored or loaded, so a turn finds them here.
const texts = new LRUCache<string, number>({ max: 20_000, maxSize: 64 * 1024 * 1024, sizeCalculation: (_, k) => k.length + 1 });

/** o200k tokens of a text that recurs, from the cache when it was counted before. */
export function cachedCount(text: string): number {
  let n = texts.get(text);
  if (n === undefined) {
    n = countText(text);
    texts.set(text, n);
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
];

export function contextWindowOf(model: string): number {
  for (const [re, n] of KNOWN_WINDOWS) if (re.test(model)) return n;
  return DEFAULT_CONTEXT_TOKENS;
}

// The first count pays for building the merge cache: paid at start, not in a request.
countText('warm up the tokenizer once');
