// An agent's secrets (provider and embedder keys, HTTP and MCP tools' headers, a stdio MCP server's env): kept out of the
// stored config, sealed apart, never returned, and each bound to where it was given
// for — the provider and origin (scheme, host, port) of the endpoint it authenticates
// to. A secret is only ever joined back into a config whose endpoint is still that one:
// redirecting an agent without giving the secret again drops it.
import { defaultBaseUrl, originOf, type PlatformProviders, type ProviderKind } from '../llm/endpoints.ts';
import type { z } from 'zod';
import type { AgentConfig, agentPatch } from './config.ts';
import { readSecretPath, secretHolderPath, secretPath, toolSecretKey } from '../keys.ts';

/** A secret and the endpoint it is for ("openai-compatible https://api.openai.com"). */
export interface BoundSecret {
  value: string;
  bound_to: string;
}

/** By path: "llm.api_key", "llm.fallback.api_key", "memory.embedder.api_key", "tools.0.headers.x-key", "tools.1.env.TOKEN". */
export type Secrets = Record<string, BoundSecret>;

/** Secrets a PATCH removed explicitly (`"api_key": null`, a tool header set to null). */
export interface Removals {
  paths: Set<string>;
  /** keys.ts toolSecretKey(tool name, 'headers' | 'env', name) */
  toolHeaders: Set<string>;
}

type AgentPatch = z.output<typeof agentPatch>;

const endpoint = (kind: string, url: string | undefined) => `${kind} ${originOf(url)}`;

/** The endpoint a secret at `path` authenticates to under `config`; undefined when there is none. */
export function endpointOf(path: string, config: AgentConfig, env: PlatformProviders): string | undefined {
  const { llm } = config;
  const baseFor = (provider: string, url: string | undefined) =>
    provider === 'simulated' ? undefined : (url ?? defaultBaseUrl(provider as ProviderKind, env));
  const p = readSecretPath(path);
  if (p?.kind === 'llm') return endpoint(llm.provider, baseFor(llm.provider, llm.base_url));
  if (p?.kind === 'fallback') {
    if (!llm.fallback) return undefined;
    const provider = llm.fallback.provider ?? llm.provider;
    const url = llm.fallback.base_url ?? (provider === llm.provider ? llm.base_url : undefined);
    return endpoint(provider, baseFor(provider, url));
  }
  if (p?.kind === 'embedder') {
    const e = config.memory.embedder;
    return e.provider === 'local' || e.provider === 'local-neural' ? undefined : endpoint(e.provider, e.base_url ?? defaultBaseUrl(e.provider, env));
  }
  if (p?.kind === 'tool') {
    const t = config.tools[p.index];
    if (p.field === 'headers') return t?.type === 'http' ? endpoint('http', t.url) : t?.type === 'mcp' && t.url ? endpoint('mcp', t.url) : undefined;
    // A stdio server's environment goes only to the program it was given for.
    return t?.type === 'mcp' && t.command ? `stdio ${t.command}` : undefined;
  }
  return undefined;
}

/** Removes every secret from a config and returns them by path, bound to their endpoints. */
export function splitSecrets(config: AgentConfig, env: PlatformProviders): { config: AgentConfig; secrets: Secrets } {
  const copy = structuredClone(config);
  const secrets: Secrets = {};
  const take = (path: string, holder: Record<string, unknown> | undefined, key: string) => {
    if (holder && typeof holder[key] === 'string') {
      secrets[path] = { value: holder[key] as string, bound_to: endpointOf(path, config, env) ?? '' };
      delete holder[key];
    }
  };
  take(secretPath({ kind: 'llm' }), copy.llm, 'api_key');
  take(secretPath({ kind: 'fallback' }), copy.llm.fallback, 'api_key');
  take(secretPath({ kind: 'embedder' }), copy.memory.embedder, 'api_key');
  copy.tools.forEach((tool, index) => {
    if (tool.type !== 'http' && tool.type !== 'mcp') return;
    for (const name of Object.keys(tool.headers)) take(secretPath({ kind: 'tool', index, field: 'headers', name }), tool.headers, name);
    if (tool.type === 'mcp') for (const name of Object.keys(tool.env)) take(secretPath({ kind: 'tool', index, field: 'env', name }), tool.env, name);
  });
  return { config: copy, secrets };
}

/** Secrets as sealed; rows stored before secrets were bound hold plain strings, bound to the config they were stored with. */
export function readSecrets(raw: Record<string, string | BoundSecret>, config: AgentConfig, env: PlatformProviders): Secrets {
  const out: Secrets = {};
  for (const [path, s] of Object.entries(raw)) {
    out[path] = typeof s === 'string' ? { value: s, bound_to: endpointOf(path, config, env) ?? '' } : s;
  }
  return out;
}

/** Puts back the secrets whose endpoint is still the one they were given for (for running the agent; never for responses). */
export function joinSecrets(config: AgentConfig, secrets: Secrets, env: PlatformProviders): AgentConfig {
  const copy = structuredClone(config);
  for (const [path, s] of Object.entries(secrets)) {
    const p = readSecretPath(path);
    if (!p || endpointOf(path, config, env) !== s.bound_to) continue;
    const { holder: walk, field } = secretHolderPath(p);
    let holder = fields(copy);
    for (const k of walk) holder = fields(holder?.[k]);
    if (holder) holder[field] = s.value;
  }
  return copy;
}

/**
 * After an update: the stored secrets that still apply to the new config. A secret is
 * kept when its endpoint is unchanged, it was not given again and not removed; a tool's
 * headers follow the tool by name (the tools array may be reordered or extended).
 */
export function carrySecrets(
  previous: Secrets,
  before: AgentConfig,
  after: AgentConfig,
  given: Secrets,
  removed: Removals,
  env: PlatformProviders,
): { kept: Secrets; dropped: string[] } {
  const kept: Secrets = {};
  const dropped: string[] = [];
  for (const [path, s] of Object.entries(previous)) {
    let next = path;
    const tool = readSecretPath(path);
    if (tool?.kind === 'tool') {
      const was = before.tools[tool.index];
      const j = after.tools.findIndex((t) => t.type === was?.type && t.name === was?.name);
      if (j < 0 || removed.toolHeaders.has(toolSecretKey(String(was?.name), tool.field, tool.name))) {
        dropped.push(path);
        continue;
      }
      next = secretPath({ ...tool, index: j });
    } else if (removed.paths.has(path)) {
      dropped.push(path);
      continue;
    }
    if (given[next]) continue; // given again: the new value replaces it
    if (endpointOf(next, after, env) === s.bound_to) kept[next] = s;
    else dropped.push(path);
  }
  return { kept, dropped };
}

/**
 * Takes the explicit secret removals out of a PATCH body (null for a key, or for a tool
 * header) and returns the body without the tool-header nulls (the schema wants strings).
 */
export function takeRemovals(patch: AgentPatch): { patch: AgentPatch; removed: Removals } {
  const removed: Removals = { paths: new Set(), toolHeaders: new Set() };
  if (patch.llm?.api_key === null) removed.paths.add('llm.api_key');
  if (patch.llm?.fallback === null || fields(patch.llm?.fallback)?.api_key === null) removed.paths.add('llm.fallback.api_key');
  if (patch.memory?.embedder === null || fields(patch.memory?.embedder)?.api_key === null) removed.paths.add('memory.embedder.api_key');
  if (!patch.tools) return { patch, removed };
  const withoutNulls = (t: Record<string | number, unknown>, field: 'headers' | 'env') => {
    const values = fields(t[field]);
    if (!values) return t;
    const kept: Record<string, unknown> = {};
    for (const [h, v] of Object.entries(values)) {
      if (v === null) removed.toolHeaders.add(toolSecretKey(String(t.name), field, h));
      else kept[h] = v;
    }
    return { ...t, [field]: kept };
  };
  const tools = patch.tools.map((t) => {
    const tool = fields(t);
    return tool ? withoutNulls(withoutNulls(tool, 'headers'), 'env') : t;
  });
  return { patch: { ...patch, tools }, removed };
}

/** A value's fields when it is an object (arrays included, by index); undefined for anything else. */
function fields(v: unknown): Record<string | number, unknown> | undefined {
  return v && typeof v === 'object' ? (v as Record<string | number, unknown>) : undefined;
}
