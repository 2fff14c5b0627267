// Builds a provider from an agent's llm config: the wire format, wrapped in the
// first-token deadline and the retry policy that every provider shares.
import { createAnthropic } from './anthropic/index.ts';
import { createOpenAICompatible } from './openai-compatible/index.ts';
import type { UpstreamPool } from './pool.ts';
import { withRetries } from './retry.ts';
import { withFallback } from './fallback.ts';
import { createSimulated } from './simulated/index.ts';
import type { Provider, ProviderConfig } from './types.ts';
import { createZhipu } from './zhipu/index.ts';

export const DEFAULT_MAX_RETRIES = 2;
// A slow model (glm-4) takes ~20 s to its first token; past a minute something is wrong.
export const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 60_000;

export function createProvider(config: ProviderConfig, pool: UpstreamPool): Provider {
  const primary = createOne(config, pool);
  const fb = config.fallback;
  return fb ? withFallback(primary, createOne(fb, pool), fb.model, fb.after_ms) : primary;
}

function createOne(config: Omit<ProviderConfig, 'fallback'>, pool: UpstreamPool): Provider {
  const base =
    config.provider === 'openai-compatible'
      ? createOpenAICompatible(config, pool)
      : config.provider === 'zhipu'
        ? createZhipu(config, pool)
        : config.provider === 'anthropic'
          ? createAnthropic(config, pool)
          : createSimulated(config);
  return withRetries(base, {
    maxRetries: config.max_retries ?? DEFAULT_MAX_RETRIES,
    firstTokenTimeoutMs: config.first_token_timeout_ms ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
  });
}
