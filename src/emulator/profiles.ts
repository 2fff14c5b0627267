// Latency profiles from the seed report: how long until the first token and how fast
// the rest follow. Per-request options (`~first_token_ms=`, `~tokens_per_s=`, `~jitter=`)
// override them. Jitter is off by default and seeded when on, so runs repeat exactly.

import { mulberry32 } from '../random.ts';

export type ProfileName = 'instant' | 'glm-4-flash' | 'glm-4';

export interface Profile {
  /** delay before the first content token */
  first_token_ms: number;
  /** 0 = no pacing: write as fast as possible (still one SSE chunk per token) */
  tokens_per_s: number;
  /** ± fraction applied to every delay; 0 = exact */
  jitter: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  instant: { first_token_ms: 0, tokens_per_s: 0, jitter: 0 },
  // seed report: glm-4-flash first token 0.5–2 s
  'glm-4-flash': { first_token_ms: 1500, tokens_per_s: 80, jitter: 0 },
  // seed report: glm-4 first token ≈ 20 s
  'glm-4': { first_token_ms: 20_000, tokens_per_s: 30, jitter: 0 },
};

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export const isProfileName = (x: unknown): x is ProfileName => typeof x === 'string' && x in PROFILES;

export interface Pacing {
  /** delay before the first content token, ms */
  firstTokenMs(): number;
  /** delay between two tokens, ms (0 = back to back) */
  gapMs(): number;
}

/** The delays for one response; `seq` varies the jitter between requests, reproducibly. */
export function pacingFor(name: ProfileName, options: Record<string, string>, seq = 0): Pacing {
  const p = PROFILES[name];
  const num = (k: string, dflt: number) => {
    const v = Number(options[k]);
    return options[k] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
  };
  const first = num('first_token_ms', p.first_token_ms);
  const rate = num('tokens_per_s', p.tokens_per_s);
  const gap = rate > 0 ? 1000 / rate : 0;
  const jitter = Math.min(num('jitter', p.jitter), 1);
  const rand = mulberry32(num('seed', 1) * 7919 + seq);
  const vary = (ms: number) => (jitter && ms ? Math.max(0, ms * (1 + jitter * (2 * rand() - 1))) : ms);
  return { firstTokenMs: () => vary(first), gapMs: () => vary(gap) };
}
