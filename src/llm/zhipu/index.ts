// Zhipu GLM at {base_url}/chat/completions. Differences from OpenAI that matter here:
// auth is the key as a plain Bearer or a signed JWT (auth: "jwt"); usage comes in the
// last chunk unasked; "sensitive" and "network_error" finish reasons and
// `data: {"error": …}` events are failures; error bodies carry string codes.
import { chatProvider } from '../chat-provider.ts';
import { fromOpenAIFinishReason, type Dialect } from '../chat-completions.ts';
import { UpstreamError, codeForStatus, parseErrorBody, providerError, retryAfterMs } from '../errors.ts';
import type { UpstreamPool } from '../pool.ts';
import type { Provider, ProviderConfig } from '../types.ts';
import { zhipuCode } from './errors.ts';
import { createTokenSource } from './jwt.ts';
import { ZHIPU_BASE_URL } from '../endpoints.ts';

export function zhipuDialect(config: ProviderConfig): Dialect {
  const base = (config.base_url ?? ZHIPU_BASE_URL).replace(/\/+$/, '');
  const key = config.api_key;
  const token = key && config.auth === 'jwt' ? createTokenSource(key) : undefined;
  return {
    url: `${base}/chat/completions`,
    authorization: async () => (token ? `Bearer ${await token()}` : key ? `Bearer ${key}` : undefined),
    // GLM-4.5+ think by default; `thinking: {type}` switches it (older models ignore it).
    body: (req) => {
      const thinking = req.thinking ?? config.thinking;
      return thinking ? { thinking: { type: thinking } } : {};
    },
    finish(raw) {
      if (raw === 'sensitive')
        return new UpstreamError('upstream_content_filter', 'Zhipu stopped the answer: content flagged as sensitive.', { providerCode: raw });
      if (raw === 'network_error') return new UpstreamError('upstream_network', 'Zhipu reported a network error while generating.', { providerCode: raw });
      return fromOpenAIFinishReason(raw);
    },
    httpError(status, body, headers, url) {
      const err = parseErrorBody(body);
      const code = zhipuCode(err?.code) ?? codeForStatus(status);
      const message = err?.message ? `${status} (${err.code}): ${err.message}` : `Zhipu answered HTTP ${status}.`;
      return new UpstreamError(code, message, { status, url, body, providerCode: err?.code, retryAfterMs: retryAfterMs(headers['retry-after']) });
    },
    eventError(error) {
      const err = providerError(error);
      const code = zhipuCode(err?.code) ?? 'upstream_error';
      return new UpstreamError(code, `Zhipu (${err?.code ?? '?'}): ${err?.message ?? 'error'}`, { providerCode: err?.code });
    },
  };
}

export function createZhipu(config: ProviderConfig, pool: UpstreamPool): Provider {
  return chatProvider('zhipu', zhipuDialect(config), pool);
}
