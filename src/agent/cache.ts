// Agent config → ready-to-run agent (provider built, secrets opened), cached per
// agent id. The seed's "agent factory" stage, paid once per change instead of per
// request; an update or delete drops the entry at once (and, with Redis, everywhere).
import { LRUCache } from 'lru-cache';
import type { AppConfig } from '../config.ts';
import { defaultBaseUrl, originOf, platformKey, type PlatformProviders } from '../llm/endpoints.ts';
import { createProvider } from '../llm/index.ts';
import type { UpstreamPool } from '../llm/pool.ts';
import type { Provider, ProviderConfig } from '../llm/types.ts';
import { alwaysTrusted, type CacheGuard } from '../store/invalidation.ts';
import type { Agents, RunnableAgent } from './agents.ts';
import type { AgentConfig } from './config.ts';

export interface ReadyAgent extends RunnableAgent {
  provider: Provider;
  providerName: string;
  model: string;
}

/** `guard`: while the invalidation bus cannot be trusted, every get reads the database. */
export function createAgentCache(agents: Agents, pool: UpstreamPool, env: AppConfig, guard: CacheGuard = alwaysTrusted) {
  const cache = new LRUCache<string, ReadyAgent>({ max: 5_000 });
  // Loads in flight, so a burst of first requests builds the agent once.
  const loading = new Map<string, Promise<ReadyAgent | undefined>>();

  async function load(orgId: string, id: string): Promise<ReadyAgent | undefined> {
    const epoch = guard.epoch();
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
    if (guard.trusted() && guard.epoch() === epoch) cache.set(id, ready);
    return ready;
  }

  return {
    /** The agent if it exists in this org; a cache hit is a map lookup. */
    async get(orgId: string, id: string): Promise<ReadyAgent | undefined> {
      const hit = guard.trusted() ? cache.get(id) : undefined;
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
  };
}

export type AgentCache = ReturnType<typeof createAgentCache>;

/**
 * The agent's llm section, with the provider's default base URL filled in, and the
 * platform's key only where the endpoint is the platform's own for that provider.
 */
export function resolveProvider(llm: AgentConfig['llm'], env: PlatformProviders): ProviderConfig {
  const { fallback, ...primary } = llm;
  const config = withDefaults({ ...primary }, env);
  if (fallback) {
    const provider = fallback.provider ?? llm.provider;
    const { after_ms, ...own } = fallback;
    // The fallback inherits the primary's endpoint when it names the same provider, and
    // its key only when it also calls the same origin.
    const base = {
      ...primary,
      provider,
      base_url: provider === llm.provider ? llm.base_url : undefined,
      api_key: undefined,
      auth: provider === llm.provider ? llm.auth : undefined,
    };
    const merged = withDefaults({ ...base, ...stripUndefined(own), provider }, env);
    if (merged.api_key === undefined && provider === llm.provider && originOf(merged.base_url) === originOf(config.base_url)) merged.api_key = config.api_key;
    config.fallback = { ...merged, after_ms };
  }
  return config;
}

function withDefaults(c: Omit<ProviderConfig, 'fallback'>, env: PlatformProviders): ProviderConfig {
  if (c.provider !== 'simulated') {
    c.base_url ??= defaultBaseUrl(c.provider, env);
    c.api_key ??= platformKey(c.provider, c.base_url, env);
  }
  return c;
}

const stripUndefined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
