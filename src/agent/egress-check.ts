// An agent config's outbound targets against AGENTMEM_EGRESS, when the agent is created or
// changed: a refused target is a 400 then, not a failure at the first chat. The pool
// checks again at every connection (src/llm/egress.ts); this is the early, readable answer.
import { checkTarget, type EgressDeniedError, type EgressPolicy } from '../llm/egress.ts';

/** A config naming a target the egress policy refuses; `path` is where, e.g. "tools.0.url". */
export class AgentEgressError extends Error {
  readonly code = 'egress_denied';
  constructor(readonly refused: Array<{ path: string; denied: EgressDeniedError }>) {
    super(refused.map(({ path, denied }) => `${path}: ${denied.message}`).join('; '));
    this.name = 'AgentEgressError';
  }
}

/** What a config may name to connect to (MCP tools with a `url` are included by shape). */
interface Targets {
  llm?: { base_url?: string; fallback?: { base_url?: string } };
  memory?: { embedder?: { base_url?: string } };
  tools?: ReadonlyArray<object>;
}

export function configTargets(config: Targets): Array<{ path: string; url: string }> {
  const out: Array<{ path: string; url: string }> = [];
  const add = (path: string, url: unknown) => typeof url === 'string' && out.push({ path, url });
  add('llm.base_url', config.llm?.base_url);
  add('llm.fallback.base_url', config.llm?.fallback?.base_url);
  add('memory.embedder.base_url', config.memory?.embedder?.base_url);
  config.tools?.forEach((t, i) => add(`tools.${i}.url`, (t as { url?: unknown }).url));
  return out;
}

/** Throws AgentEgressError naming every refused target; resolves at once under `any`. */
export async function checkConfigEgress(policy: EgressPolicy, config: Targets): Promise<void> {
  if (policy.kind === 'any') return;
  const checked = await Promise.all(configTargets(config).map(async (t) => ({ path: t.path, denied: await checkTarget(policy, t.url) })));
  const refused = checked.filter((c): c is { path: string; denied: EgressDeniedError } => c.denied !== undefined);
  if (refused.length) throw new AgentEgressError(refused);
}
