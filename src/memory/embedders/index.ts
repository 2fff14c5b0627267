// The agent's `memory.embedder` config → an Embedder, built once per distinct config.
// Keys and base URLs fall back to the process-wide provider settings, like the LLM's do.
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import { createLocalEmbedder } from './local.ts';
import { createRemoteEmbedder, EmbedderError } from './openai-compatible.ts';
import type { Embedder } from './types.ts';
import { createZhipuEmbedder } from './zhipu.ts';

export { EmbedderError };
export type { Embedder };

/** The shape of agent config `memory.embedder` (src/agent/config.ts). */
export interface EmbedderConfig {
  provider: 'local' | 'openai-compatible' | 'zhipu';
  model?: string;
  dimensions: number;
  base_url?: string;
  api_key?: string;
}

export interface EmbedderEnv {
  openaiApiKey?: string;
  openaiBaseUrl?: string;
  zhipuApiKey?: string;
  zhipuBaseUrl?: string;
}

export const DEFAULT_EMBEDDER: EmbedderConfig = { provider: 'local', dimensions: 256 };

export function createEmbedder(config: EmbedderConfig, env: EmbedderEnv = {}, dispatcher?: Dispatcher): Embedder {
  switch (config.provider) {
    case 'local':
      return createLocalEmbedder({ dimensions: config.dimensions });
    case 'openai-compatible':
      return createRemoteEmbedder({
        name: 'openai-compatible',
        baseUrl: config.base_url ?? env.openaiBaseUrl ?? 'https://api.openai.com/v1',
        apiKey: config.api_key ?? env.openaiApiKey,
        model: config.model ?? 'text-embedding-3-small',
        dimensions: config.dimensions,
        dispatcher,
      });
    case 'zhipu':
      return createZhipuEmbedder({
        baseUrl: config.base_url ?? env.zhipuBaseUrl,
        apiKey: config.api_key ?? env.zhipuApiKey,
        model: config.model,
        dimensions: config.dimensions,
        dispatcher,
      });
    default:
      throw new EmbedderError(`unknown embedder provider "${(config as { provider: string }).provider}"`, 'config');
  }
}

/** `embedderFor(config)`: cached per distinct config; no config means the default local:256. */
export function createEmbedders(env: EmbedderEnv = {}, dispatcher?: Dispatcher) {
  const cache = new LRUCache<string, Embedder>({ max: 1_000 });
  return function embedderFor(config: EmbedderConfig | undefined = DEFAULT_EMBEDDER): Embedder {
    const key = JSON.stringify([config.provider, config.model, config.dimensions, config.base_url, config.api_key]);
    let embedder = cache.get(key);
    if (!embedder) {
      embedder = createEmbedder(config, env, dispatcher);
      cache.set(key, embedder);
    }
    return embedder;
  };
}

export type EmbedderFor = ReturnType<typeof createEmbedders>;
