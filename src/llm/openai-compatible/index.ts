// OpenAI chat.completions and everything that speaks it (DeepSeek, Ollama, vLLM, …):
// bearer key, `stream_options.include_usage` so the last chunk carries usage.
import { chatProvider } from '../chat-provider.ts';
import { UpstreamError, codeForStatus, parseErrorBody, providerError, retryAfterMs } from '../errors.ts';
import { fromOpenAIFinishReason, type Dialect } from '../chat-completions.ts';
import type { UpstreamPool } from '../pool.ts';
import type { Provider, ProviderConfig } from '../types.ts';

export function openaiDialect(config: ProviderConfig): Dialect {
  const base = (config.base_url ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  return {
    url: `${base}/chat/completions`,
    authorization: () => (config.api_key ? `Bearer ${config.api_key}` : undefined),
    // DeepSeek's `thinking: {type}` switch, sent only to an agent that set llm.thinking
    // (OpenAI itself refuses unknown fields).
    body: (req) => ({
      stream_options: { include_usage: true },
      ...(config.thinking !== undefined ? { thinking: { type: req.thinking ?? config.thinking } } : {}),
    }),
    finish: fromOpenAIFinishReason,
    httpError(status, body, headers, url) {
      const err = parseErrorBody(body);
      const message = err?.message ? `${status}: ${err.message}` : `The model provider answered HTTP ${status}.`;
      return new UpstreamError(codeForStatus(status), message, {
        status,
        url,
        body,
        providerCode: err?.code ?? err?.type,
        retryAfterMs: retryAfterMs(headers['retry-after']),
      });
    },
    eventError(error) {
      const err = providerError(error);
      return new UpstreamError('upstream_error', err?.message ?? 'The model provider reported an error.', {
        providerCode: err?.code ?? err?.type,
      });
    },
  };
}

export function createOpenAICompatible(config: ProviderConfig, pool: UpstreamPool): Provider {
  return chatProvider('openai-compatible', openaiDialect(config), pool);
}
