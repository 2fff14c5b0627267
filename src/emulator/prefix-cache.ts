// A provider's prompt (prefix) cache, as the emulator keeps it: a request whose prompt
// begins with the tokens of a prompt seen recently, under the same key and model, pays
// the prefill of the new tokens only. The rules are the providers' own:
//   - OpenAI (and Zhipu GLM, the same `cached_tokens` field): prompts of 1,024 tokens or
//     more, cache hits in increments of 128 tokens (1,024, 1,152, 1,280, …); caches are
//     cleared after 5–10 minutes of inactivity and always within an hour of last use, and
//     are not shared between organizations (OpenAI cookbook "Prompt Caching 201";
//     Azure OpenAI "Prompt caching").
//   - DeepSeek (context caching on disk): a storage unit of 64 tokens, nothing under 64
//     tokens cached; reported as `prompt_cache_hit_tokens` / `prompt_cache_miss_tokens`.
// (Anthropic's cache is written only at explicit breakpoints and looks back over blocks:
// anthropic-cache.ts.)
// A prefix is remembered as a chain of hashes, one per block end: the hash of the block's
// tokens and of the previous block's hash, seeded with the scope (key + model). Looking a
// prompt up is then one hash pass over its tokens and a map probe per block end, longest
// first; a changed early token changes every hash after it, as a real KV cache would.
// Bounded: an LRU of at most `maxEntries` block hashes (each a fixed 24-character key and a
// timestamp), each dropped after `ttlMs` without use.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export interface PrefixRules {
  /** a prompt shorter than this is neither stored nor served */
  minTokens: number;
  /** cached lengths are whole blocks: multiples of this, from `minTokens` on */
  blockTokens: number;
}

/** OpenAI's rules (Zhipu GLM reports the same way). */
export const OPENAI_RULES: PrefixRules = { minTokens: 1024, blockTokens: 128 };
/** DeepSeek: 64-token storage units, nothing under 64 tokens. */
export const DEEPSEEK_RULES: PrefixRules = { minTokens: 64, blockTokens: 64 };

export interface PrefixCacheOptions {
  /** a prefix unused this long is gone (OpenAI: 5–10 min of inactivity, at most 1 h) */
  ttlMs?: number;
  /** block hashes kept at most (LRU); ~100 bytes each */
  maxEntries?: number;
  /** the clock, ms (tests move it) */
  now?: () => number;
}

export interface PrefixCacheStats {
  entries: number;
  evictions: number;
  /** lookups that found a prefix / that did not */
  hits: number;
  misses: number;
}

/** The token counts at which a prompt of `n` tokens can be cached under `rules`: every block end from `minTokens`. */
export function blockEnds(n: number, rules: PrefixRules): number[] {
  const ends: number[] = [];
  if (n < rules.minTokens) return ends;
  const first = Math.ceil(rules.minTokens / rules.blockTokens) * rules.blockTokens;
  for (let end = first; end <= n; end += rules.blockTokens) ends.push(end);
  return ends;
}

/** The chained hash of `tokens[0..end)` for every `end` (ascending), seeded with the scope. */
export function prefixHashes(scope: string, tokens: ArrayLike<number>, ends: readonly number[]): string[] {
  let prev = createHash('sha256').update(scope).digest();
  let at = 0;
  const out: string[] = [];
  for (const end of ends) {
    if (end <= at || end > tokens.length) throw new RangeError(`prefix end ${end} out of order or past the prompt (${tokens.length} tokens)`);
    const block = new Uint32Array(end - at);
    for (let i = 0; i < block.length; i++) block[i] = tokens[at + i]!;
    prev = createHash('sha256').update(prev).update(new Uint8Array(block.buffer)).digest();
    out.push(prev.subarray(0, 18).toString('base64'));
    at = end;
  }
  return out;
}

export class PrefixCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** block hash → when it was last used */
  readonly #lastUsed: LRUCache<string, number>;
  #evictions = 0;
  #hits = 0;
  #misses = 0;

  constructor({ ttlMs = 10 * 60_000, maxEntries = 100_000, now = Date.now }: PrefixCacheOptions = {}) {
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#lastUsed = new LRUCache<string, number>({
      max: maxEntries,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /**
   * What a provider does with a prompt: the longest of its prefixes (`ends`, ascending token
   * counts, e.g. `blockEnds(tokens.length, OPENAI_RULES)`) stored under `scope` within the TTL,
   * in tokens (0 when none); then every prefix of it is stored (or refreshed) for the next request.
   */
  serve(scope: string, tokens: ArrayLike<number>, ends: readonly number[]): number {
    const hashes = prefixHashes(scope, tokens, ends);
    const cached = this.#longest(hashes, ends);
    this.#remember(hashes);
    return cached;
  }

  stats(): PrefixCacheStats {
    return { entries: this.#lastUsed.size, evictions: this.#evictions, hits: this.#hits, misses: this.#misses };
  }

  // Longest first, so the shorter prefixes are the most recently used: the LRU drops a chain from its end.
  #remember(hashes: string[]): void {
    const t = this.#now();
    for (let i = hashes.length - 1; i >= 0; i--) this.#lastUsed.set(hashes[i]!, t);
  }

  #longest(hashes: string[], ends: readonly number[]): number {
    const t = this.#now();
    for (let i = hashes.length - 1; i >= 0; i--) {
      const used = this.#lastUsed.get(hashes[i]!);
      if (used === undefined) continue;
      if (t - used > this.#ttlMs) {
        this.#lastUsed.delete(hashes[i]!);
        continue;
      }
      this.#hits++;
      return ends[i]!;
    }
    this.#misses++;
    return 0;
  }
}
