// Where a provider lives by default, and which of the platform's own keys may go there.
// The platform's OPENAI_API_KEY is for OPENAI_BASE_URL (default: OpenAI) and nowhere
// else; the same for Zhipu and Anthropic. A tenant's agent that names another origin brings its own key.

export type ProviderKind = 'openai-compatible' | 'zhipu' | 'anthropic';

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';
export const ZHIPU_BASE_URL = 'https://open.bigmodel.cn/api/paas/v4';
/** Anthropic's base: the Messages API is at {base}/v1/messages */
export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';

/** The process-wide provider settings (env OPENAI_API_KEY, OPENAI_BASE_URL, ZHIPU_…, ANTHROPIC_…). */
export interface PlatformProviders {
  openaiApiKey?: string;
  openaiBaseUrl?: string;
  zhipuApiKey?: string;
  zhipuBaseUrl?: string;
  anthropicApiKey?: string;
  anthropicBaseUrl?: string;
}

/** The base URL a provider is called at when the config names none. */
export function defaultBaseUrl(provider: ProviderKind, env: PlatformProviders): string {
  if (provider === 'zhipu') return env.zhipuBaseUrl ?? ZHIPU_BASE_URL;
  if (provider === 'anthropic') return env.anthropicBaseUrl ?? ANTHROPIC_BASE_URL;
  return env.openaiBaseUrl ?? OPENAI_BASE_URL;
}

/** scheme://host:port of a URL (default ports omitted, as URL.origin does); '' when it is not a URL. */
export function originOf(url: string | undefined): string {
  if (!url) return '';
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/** The platform's key for this provider, only when `baseUrl` is the platform's own origin for it. */
export function platformKey(provider: ProviderKind, baseUrl: string, env: PlatformProviders): string | undefined {
  const key = provider === 'zhipu' ? env.zhipuApiKey : provider === 'anthropic' ? env.anthropicApiKey : env.openaiApiKey;
  return key && originOf(baseUrl) === originOf(defaultBaseUrl(provider, env)) ? key : undefined;
}
