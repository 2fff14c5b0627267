// At start, open a keep-alive connection to every upstream origin the configured agents
// use (fallbacks included), so no first request pays a TCP/TLS handshake. Best effort:
// an unreachable origin is the request's problem to report, not the start's.
import type { AppConfig } from '../config.ts';
import type { UpstreamPool } from '../llm/pool.ts';
import type { Queryable } from '../store/db.ts';
import { listLlmConfigs } from '../store/repos/agents.ts';
import { resolveProvider } from './cache.ts';
import { llmConfig } from './config.ts';

export async function warmUpstreams(db: Queryable, pool: UpstreamPool, env: AppConfig): Promise<string[]> {
  const origins = new Set<string>();
  for (const raw of await listLlmConfigs(db)) {
    const parsed = llmConfig.safeParse(raw);
    if (!parsed.success) continue;
    const resolved = resolveProvider(parsed.data, env);
    for (const c of [resolved, resolved.fallback]) {
      if (c?.base_url && c.provider !== 'simulated') origins.add(new URL(c.base_url).origin);
    }
  }
  await Promise.all([...origins].map((o) => pool.warm(o)));
  return [...origins];
}
