// Agent config → ready-to-run agent (provider built, secrets opened), cached per
// agent id. The seed's "agent factory" stage, paid once per change instead of per
// request; an update or delete drops the entry at once (and, with Redis, everywhere).
import { LRUCache } from 'lru-cache';
import type { AppConfig } from '../config.ts';
import { createProvider } from '../llm/index.ts';
import type { Pool } from '../llm/pool.ts';
import type { Provider, ProviderConfig } from '../llm/types.ts';
import type { Agents, RunnableAgent } from './agents.ts';
import type { AgentConfig } from './config.ts';

export interface ReadyAgent extends RunnableAgent {
  provider: Provider;
  providerName: string;
  model: string;
}

export function createAgentCache(agents: Agents, pool: Pool, env: AppConfig) {
  const cache = new LRUCache<string, ReadyAgent>({ max: 5_000 });
  // Loads in flight, so a burst of first requests builds the agent once.
  const loading = new Map<string, Promise<ReadyAgent | undefined>>();

  async function load(orgId: string, id: string): Promise<ReadyAgent | undefined> {
    const row = await agents.get(orgId, id);
    if (!row) return undefined;
    const runnable = agents.runnable(row);
    const providerConfig = resolveProvider(runnable.config.llm, env);
    const ready: ReadyAgent = {
      ...runnable,
      provider: createProvider(providerConfig, pool),
      providerName: providerConfig.provider,
      model: providerConfig.model,
    };
    cache.set(id, ready);
    return ready;
  }

  return {
    /** The agent if it exists in this org; a cache hit is a map lookup. */
    async get(orgId: string, id: string): Promise<ReadyAgent | undefined> {
      const hit = cache.get(id);
      if (hit) return hit.org_id === orgId ? hit : undefined;
      const key = `${orgId}:${id}`;
      let pending = loading.get(key);
      if (!pending) {
        pending = load(orgId, id).finally(() => loading.delete(key));
        loading.set(key, pending);
      }
      return pending;
    },
    /** Drops an agent from the cache ('*': all of them). */
    invalidate(id: string) {
      if (id === '*') cache.clear();
      else cache.delete(id);
    },
    /** every cached agent (to warm their upstream connections) */
    values: () => [...cache.values()],
  };
}

export type AgentCache = ReturnType<typeof createAgentCache>;

/** The agent's llm section, with the process-wide provider keys and base URLs as defaults. */
export function resolveProvider(llm: AgentConfig['llm'], env: AppConfig): ProviderConfig {
  const base: ProviderConfig = {
    provider: llm.provider,
    model: llm.model,
    base_url: llm.base_url,
    api_key: llm.api_key,
    auth: llm.auth,
    temperature: llm.temperature,
    max_tokens: llm.max_tokens,
    simulated: llm.simulated,
    first_token_timeout_ms: llm.first_token_timeout_ms,
    max_retries: llm.max_retries,
  };
  if (llm.provider === 'openai-compatible') {
    base.api_key ??= env.openaiApiKey;
    base.base_url ??= env.openaiBaseUrl ?? 'https://api.openai.com/v1';
  } else if (llm.provider === 'zhipu') {
    base.api_key ??= env.zhipuApiKey;
    base.base_url ??= env.zhipuBaseUrl ?? 'https://open.bigmodel.cn/api/paas/v4';
  }
  return base;
}
