// The agent's `memory.embedder` config → an Embedder, built once per distinct config.
// Base URLs default to the process-wide provider settings, and the platform's keys go
// only to the platform's own origin for that provider, like the LLM's do.
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import { defaultBaseUrl, platformKey, type PlatformProviders } from '../../llm/endpoints.ts';
import { createLocalEmbedder } from './local.ts';
import { createLocalNeuralEmbedder, LOCAL_NEURAL_DIMENSIONS, localNeuralInstalled } from './local-neural.ts';
import { createRemoteEmbedder, EmbedderError } from './openai-compatible.ts';
import type { Embedder } from './types.ts';
import { createZhipuEmbedder } from './zhipu.ts';

export { EmbedderError };
export type { Embedder };

/** The shape of agent config `memory.embedder` (src/agent/config.ts). */
export interface EmbedderConfig {
  provider: 'local' | 'local-neural' | 'openai-compatible' | 'zhipu';
  model?: string;
  dimensions: number;
  base_url?: string;
  api_key?: string;
}

/** The platform's provider keys: each used only at its own provider's origin (llm/endpoints.ts). */
export type EmbedderEnv = PlatformProviders;

/** Memories without an agent, and searches naming none, use the lexical local embedder. */
export const DEFAULT_EMBEDDER: EmbedderConfig = { provider: 'local', dimensions: 256 };

/**
 * What a new agent gets when its config names no embedder: AGENTMEM_DEFAULT_EMBEDDER
 * (`local` or `local-neural`), else the local neural one when its package is installed,
 * else the lexical local one. Read at each agent's creation, so a test can choose.
 */
export function defaultEmbedderProvider(env: NodeJS.ProcessEnv = process.env): 'local' | 'local-neural' {
  const chosen = env.AGENTMEM_DEFAULT_EMBEDDER;
  if (chosen === 'local' || chosen === 'local-neural') return chosen;
  return neuralInstalled() ? 'local-neural' : 'local';
}
let installed: boolean | undefined;
/** whether local-neural's packages are installed (looked up once) */
export const neuralInstalled = () => (installed ??= localNeuralInstalled());

/** dimensions when the config gives none: the model's own, or the hashed embedder's 256 */
export const defaultDimensions = (provider: EmbedderConfig['provider']) => (provider === 'local-neural' ? LOCAL_NEURAL_DIMENSIONS : 256);

export function createEmbedder(config: EmbedderConfig, env: EmbedderEnv = {}, dispatcher?: Dispatcher): Embedder {
  switch (config.provider) {
    case 'local':
      return createLocalEmbedder({ dimensions: config.dimensions });
    case 'local-neural':
      if (config.dimensions !== LOCAL_NEURAL_DIMENSIONS) throw new EmbedderError(`local-neural gives ${LOCAL_NEURAL_DIMENSIONS} dimensions`, 'config');
      return createLocalNeuralEmbedder();
    case 'openai-compatible': {
      const baseUrl = config.base_url ?? defaultBaseUrl('openai-compatible', env);
      return createRemoteEmbedder({
        name: 'openai-compatible',
        baseUrl,
        apiKey: config.api_key ?? platformKey('openai-compatible', baseUrl, env),
        model: config.model ?? 'text-embedding-3-small',
        dimensions: config.dimensions,
        dispatcher,
      });
    }
    case 'zhipu': {
      const baseUrl = config.base_url ?? defaultBaseUrl('zhipu', env);
      return createZhipuEmbedder({
        baseUrl,
        apiKey: config.api_key ?? platformKey('zhipu', baseUrl, env),
        model: config.model,
        dimensions: config.dimensions,
        dispatcher,
      });
    }
    default:
      throw new EmbedderError(`unknown embedder provider "${(config as { provider: string }).provider}"`, 'config');
  }
}

/** `embedderFor(config)`: cached per distinct config; no config means the default local:256. */
export function createEmbedders(env: EmbedderEnv = {}, dispatcher?: Dispatcher) {
  // an evicted embedder with a worker (local-neural) stops it
  const cache = new LRUCache<string, Embedder>({ max: 1_000, dispose: (e) => void e.close?.() });
  function embedderFor(config: EmbedderConfig | undefined = DEFAULT_EMBEDDER): Embedder {
    const key = JSON.stringify([config.provider, config.model, config.dimensions, config.base_url, config.api_key]);
    let embedder = cache.get(key);
    if (!embedder) {
      embedder = createEmbedder(config, env, dispatcher);
      cache.set(key, embedder);
    }
    return embedder;
  }
  /** stops every embedder's worker (the server's close) */
  const close = async () => {
    const all = [...cache.values()];
    cache.clear();
    await Promise.all(all.map((e) => e.close?.()));
  };
  return Object.assign(embedderFor, { close });
}

/** The embedder of an agent's config (none: DEFAULT_EMBEDDER). */
export type EmbedderFor = (config?: EmbedderConfig) => Embedder;
export type Embedders = ReturnType<typeof createEmbedders>;
