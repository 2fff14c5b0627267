// Agents: the store of their configs (checked against the egress and stdio-MCP policies),
// the cache of ready agents, and their MCP servers.
import { createAgents } from '../agent/agents.ts';
import { createAgentCache } from '../agent/cache.ts';
import { checkConfigEgress } from '../agent/egress-check.ts';
import { checkStdioMcp, createMcpTools } from '../agent/mcp-tools.ts';
import type { JobQueue } from '../memory/jobs.ts';
import { REEMBED_JOB } from '../memory/reembed.ts';
import type { SecretBox } from '../store/secret-box.ts';
import type { Base, LoadAgent } from './base.ts';

export function buildAgents({ config, db, pool, bus, log }: Base, box: SecretBox, jobs: JobQueue) {
  const agents = createAgents(db, box, config, {
    onChange: (id) => bus.publish('agent', id),
    checkTargets: (agentConfig) => (checkStdioMcp(agentConfig, config.allowStdioMcp), checkConfigEgress(config.egress, agentConfig)),
    // Stored vectors are in the old space: embed them again, durably, off the request path.
    onEmbedderChange: (org_id, agent_id, version) =>
      void jobs
        .enqueue({ org_id, kind: REEMBED_JOB, payload: { agent_id }, idempotency_key: `reembed:${agent_id}:${version}` })
        .catch((err) => log.error({ err, agent_id }, 'could not queue re-embedding')),
  });
  const agentCache = createAgentCache(agents, pool, config, bus);
  const mcp = createMcpTools({
    dispatcher: pool.dispatcher,
    allowStdio: config.allowStdioMcp,
    onError: (err, name) => log.warn({ err, mcp_server: name }, 'MCP server unavailable'),
  });
  // The one way every service loads an agent (a closure over the cache: no `this`).
  const loadAgent: LoadAgent = agentCache.get;
  return { agents, agentCache, loadAgent, mcp };
}

export type AgentServices = ReturnType<typeof buildAgents>;
