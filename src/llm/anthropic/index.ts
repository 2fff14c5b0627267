// Anthropic's Messages API at {base_url}/v1/messages (default https://api.anthropic.com):
// `x-api-key` and `anthropic-version` headers, max_tokens always sent, the system prompt
// apart from the messages, tool use as content blocks, prompt-cache breakpoints placed
// at the stable boundaries of the prompt (messages.ts), usage with the cache's share.
import { collect } from '../complete.ts';
import { ANTHROPIC_BASE_URL } from '../endpoints.ts';
import type { UpstreamPool } from '../pool.ts';
import type { Provider, ProviderConfig } from '../types.ts';
import { messagesUrl, newThinkingMemo, streamMessages } from './stream.ts';

export function createAnthropic(config: ProviderConfig, pool: UpstreamPool): Provider {
  const url = messagesUrl(config.base_url ?? ANTHROPIC_BASE_URL);
  const origin = new URL(url).origin;
  const memo = newThinkingMemo();
  return {
    name: 'anthropic',
    stream: (req) => streamMessages(pool, config, url, req, memo),
    complete: (req) => collect(streamMessages(pool, config, url, req, memo)),
    warm: () => pool.warm(origin),
  };
}
