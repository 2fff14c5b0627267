// Anthropic's prompt cache, by its documented rules (which differ from OpenAI's automatic
// one): only a prefix that ends at a `cache_control` breakpoint is written; a request reads
// the longest prefix written before that ends at one of its own breakpoints or at a block
// boundary up to 20 blocks before one (the look-back); a prefix shorter than the model's
// minimum (1,024 tokens; 2,048 for Haiku 3/3.5; 4,096 for Haiku 4.5 and Opus 4.5) is
// neither written nor read; an entry lives 5 minutes from its last use. The prompt's
// order is tools, then system, then messages. Entries are per API key, in a bounded LRU.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** One content block of the prompt, in cache order. */
export interface PromptBlock {
  /** the block's content, without its cache_control (what must match to hit) */
  key: string;
  tokens: number;
  breakpoint: boolean;
}

/** Anthropic's three input fields: they add up to the prompt. */
export interface CacheUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export const CACHE_TTL_MS = 5 * 60_000;
/** how many blocks before a breakpoint a hit is looked for */
export const LOOKBACK_BLOCKS = 20;
export const MAX_BREAKPOINTS = 4;

/** The smallest cacheable prompt of a model. */
export function minCacheTokens(model: string): number {
  if (/haiku-4-5|opus-4-5/.test(model)) return 4_096;
  if (/haiku/.test(model)) return 2_048;
  return 1_024;
}

export interface AnthropicCache {
  /** Reads and writes the request's prefixes; what its usage reports. */
  account(apiKey: string, model: string, blocks: PromptBlock[]): CacheUsage;
}

export function createAnthropicCache(opts: { ttlMs?: number; maxEntries?: number } = {}): AnthropicCache {
  const { ttlMs = CACHE_TTL_MS, maxEntries = 50_000 } = opts;
  // a hit refreshes the entry's five minutes (ttl restarts on set; reads set again)
  const entries = new LRUCache<string, true>({ max: maxEntries, ttl: ttlMs });
  return {
    account(apiKey, model, blocks) {
      const min = minCacheTokens(model);
      const owner = createHash('sha256').update(apiKey).digest('hex').slice(0, 16);
      // rolling prefix hashes and token counts, per block boundary
      const hashes: string[] = [];
      const totals: number[] = [];
      const h = createHash('sha256').update(owner);
      let total = 0;
      for (const b of blocks) {
        h.update(`${b.key.length}:${b.key}`); // length-prefixed: block boundaries count
        total += b.tokens;
        hashes.push(h.copy().digest('hex'));
        totals.push(total);
      }
      const breakpoints = blocks.flatMap((b, i) => (b.breakpoint ? [i] : []));

      let read = -1;
      for (const bp of breakpoints) {
        for (let j = bp; j >= 0 && j > bp - LOOKBACK_BLOCKS; j--) {
          if (totals[j]! >= min && entries.has(hashes[j]!)) {
            if (j > read) read = j;
            break;
          }
        }
      }
      if (read >= 0) entries.set(hashes[read]!, true);
      let written = -1;
      for (const bp of breakpoints) {
        if (totals[bp]! < min || bp <= read) continue;
        entries.set(hashes[bp]!, true);
        written = bp;
      }
      const readTokens = read >= 0 ? totals[read]! : 0;
      const created = written >= 0 ? totals[written]! - readTokens : 0;
      return { input_tokens: total - readTokens - created, cache_creation_input_tokens: created, cache_read_input_tokens: readTokens };
    },
  };
}
