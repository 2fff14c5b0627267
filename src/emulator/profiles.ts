// Latency profiles: how long until the first token and how fast the rest follow.
// The first token waits for the prompt's prefill, as on a real provider:
//   first token = first_token_ms + prefill_ms_per_token × uncached prompt tokens
//                                + cached_ms_per_token × cached prompt tokens
// (cached = the prefix the provider's prompt cache served, prefix-cache.ts).
// Sources for the rates:
//   - first_token_ms: the seed report's first-token times, measured with short prompts
//     (glm-4-flash 0.5–2 s, glm-4 20–30 s); gpt-4o ≈ 0.5 s median at ~1k input tokens
//     (public speed tables, e.g. Artificial Analysis' 1k-token workload), less the 1k tokens' prefill.
//   - OpenAI's own measurement (cookbook "Prompt Caching 201", 2,300 runs): a cached prompt's
//     first token is 7 % sooner at 1,024 tokens and 67 % sooner at 150k+. With a 400 ms base,
//     both hold for 0.043 ms per uncached token and 0.012 ms per cached one (gpt-4o).
//   - Per uncached token, published measurements span 0.04–0.24 ms (a blog survey, nirmalya.net
//     2026-02: "1,000 fewer prompt tokens → 100–240 ms less TTFT" on shared APIs); the GLM
//     profiles take 0.1 (flash) and 0.24 (glm-4), and a cached token at OpenAI's ratio (≈ 28 %).
// Per-request options (`~first_token_ms=`, `~prefill_ms_per_token=`, `~cached_ms_per_token=`,
// `~tokens_per_s=`, `~jitter=`) override them. Jitter is off by default and seeded when on,
// so runs repeat exactly.

import { mulberry32 } from '../random.ts';

export type ProfileName = 'instant' | 'glm-4-flash' | 'glm-4' | 'gpt-4o';

export interface Profile {
  /** delay before the first content token of a prompt with no tokens to prefill (the base) */
  first_token_ms: number;
  /** added per prompt token the cache did not serve */
  prefill_ms_per_token: number;
  /** added per prompt token served from the prefix cache */
  cached_ms_per_token: number;
  /** 0 = no pacing: write as fast as possible (still one SSE chunk per token) */
  tokens_per_s: number;
  /** ± fraction applied to every delay; 0 = exact */
  jitter: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  instant: { first_token_ms: 0, prefill_ms_per_token: 0, cached_ms_per_token: 0, tokens_per_s: 0, jitter: 0 },
  // seed report: glm-4-flash first token 0.5–2 s
  'glm-4-flash': { first_token_ms: 1500, prefill_ms_per_token: 0.1, cached_ms_per_token: 0.028, tokens_per_s: 80, jitter: 0 },
  // seed report: glm-4 first token ≈ 20 s
  'glm-4': { first_token_ms: 20_000, prefill_ms_per_token: 0.24, cached_ms_per_token: 0.067, tokens_per_s: 30, jitter: 0 },
  // a gpt-4o-class model: ≈ 0.5 s at 1k prompt tokens, ~90 tokens/s; caching 7 % / 67 % sooner at 1k / 150k
  'gpt-4o': { first_token_ms: 400, prefill_ms_per_token: 0.043, cached_ms_per_token: 0.012, tokens_per_s: 90, jitter: 0 },
};

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export const isProfileName = (x: unknown): x is ProfileName => typeof x === 'string' && x in PROFILES;

export interface Pacing {
  /** delay before the first content token, ms */
  firstTokenMs(): number;
  /** delay between two tokens, ms (0 = back to back) */
  gapMs(): number;
}

/** A request's prompt: its tokens, and how many of them the prefix cache served. */
export interface PromptCount {
  tokens: number;
  cached: number;
}

/** The delays for one response; `seq` varies the jitter between requests, reproducibly. */
export function pacingFor(name: ProfileName, options: Record<string, string>, seq = 0, prompt: PromptCount = { tokens: 0, cached: 0 }): Pacing {
  const p = PROFILES[name];
  const num = (k: string, dflt: number) => {
    const v = Number(options[k]);
    return options[k] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
  };
  const prefill =
    num('prefill_ms_per_token', p.prefill_ms_per_token) * (prompt.tokens - prompt.cached) + num('cached_ms_per_token', p.cached_ms_per_token) * prompt.cached;
  const first = num('first_token_ms', p.first_token_ms) + prefill;
  const rate = num('tokens_per_s', p.tokens_per_s);
  const gap = rate > 0 ? 1000 / rate : 0;
  const jitter = Math.min(num('jitter', p.jitter), 1);
  const rand = mulberry32(num('seed', 1) * 7919 + seq);
  const vary = (ms: number) => (jitter && ms ? Math.max(0, ms * (1 + jitter * (2 * rand() - 1))) : ms);
  return { firstTokenMs: () => vary(first), gapMs: () => vary(gap) };
}
