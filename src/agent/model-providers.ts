// A provider for another model of an agent's endpoint: the cheaper model an agent names
// for background work (memory.summary.model, memory.extract.model). Same provider, base
// URL and key as the agent's own model; no fallback. Built once per agent and model.
import type { PlatformProviders } from '../llm/endpoints.ts';
import { createProvider } from '../llm/index.ts';
import type { UpstreamPool } from '../llm/pool.ts';
import type { Provider } from '../llm/types.ts';
import { resolveProvider } from './cache.ts';
import type { AgentConfig } from './config.ts';

export function createModelProviders(pool: UpstreamPool, env: PlatformProviders) {
  // Keyed by the cached agent object: a changed agent is a new object, and its providers go with the old one.
  const built = new WeakMap<object, Map<string, Provider>>();
  return (agent: { config: { llm: AgentConfig['llm'] } }, model: string): Provider => {
    let byModel = built.get(agent);
    if (!byModel) built.set(agent, (byModel = new Map()));
    let provider = byModel.get(model);
    if (!provider) {
      provider = createProvider(resolveProvider({ ...agent.config.llm, model, fallback: undefined }, env), pool);
      byModel.set(model, provider);
    }
    return provider;
  };
}
