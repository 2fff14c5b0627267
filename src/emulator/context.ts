// The model's context window, as a provider enforces it: a request whose messages
// (plus `max_tokens`) need more tokens than the model has is refused with the
// provider's own error (errors.ts `context_length`), before any token streams.
// Tokens are counted with o200k_base (gpt-4o's encoding) for both formats; GLM's own
// tokenizer is not available offline, and o200k stands in for it. `~context_tokens=N`
// sets a smaller window for one request (tests fill it without 128k tokens of text).
import { promptTokenIds, type PromptMessage } from './prompt-tokens.ts';

const WINDOWS: Record<string, number> = {
  'gpt-4o': 128_000,
  'gpt-4o-mini': 128_000,
  'gpt-4.1': 1_047_576,
  'glm-4': 128_000,
  'glm-4-flash': 128_000,
};
const DEFAULT_WINDOW = 128_000;

export function contextWindow(model: unknown, options: Record<string, string>): number {
  const n = Number(options.context_tokens);
  if (options.context_tokens !== undefined && Number.isInteger(n) && n > 0) return n;
  if (typeof model === 'string' && model.startsWith('claude-')) return 200_000;
  return (typeof model === 'string' && WINDOWS[model]) || DEFAULT_WINDOW;
}

/** OpenAI's chat accounting: 3 tokens per message, its role and text, 3 to prime the reply; tools as their JSON (prompt-tokens.ts). */
export function requestTokens(body: { messages: PromptMessage[]; tools?: unknown }): number {
  return promptTokenIds(body).length;
}
