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
  const { fallback, ...primary } = llm;
  const config = withEnvDefaults({ ...primary }, env);
  if (fallback) {
    // The fallback inherits the primary's endpoint and key when it names the same provider.
    const same = (fallback.provider ?? llm.provider) === llm.provider;
    const inherited = same ? { base_url: llm.base_url, api_key: llm.api_key, auth: llm.auth } : {};
    const { after_ms, ...own } = fallback;
    const merged = { ...primary, ...inherited, ...stripUndefined(own), provider: fallback.provider ?? llm.provider };
    config.fallback = { ...withEnvDefaults(merged, env), after_ms };
  }
  return config;
}

function withEnvDefaults(c: Omit<ProviderConfig, 'fallback'>, env: AppConfig): ProviderConfig {
  if (c.provider === 'openai-compatible') {
    c.api_key ??= env.openaiApiKey;
    c.base_url ??= env.openaiBaseUrl ?? 'https://api.openai.com/v1';
  } else if (c.provider === 'zhipu') {
    c.api_key ??= env.zhipuApiKey;
    c.base_url ??= env.zhipuBaseUrl ?? 'https://open.bigmodel.cn/api/paas/v4';
  }
  return c;
}

const stripUndefined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
