// Agents as the API sees them: create/read/update/delete with config validated,
// defaults filled in and secrets sealed apart. The server calls these; store/ holds rows.
import { z } from 'zod';
import type { Db } from '../store/db.ts';
import * as repo from '../store/repos/agents.ts';
import type { SecretBox } from '../store/secret-box.ts';
import type { PlatformProviders } from '../llm/endpoints.ts';
import { agentInput, agentPatch, type AgentConfig } from './config.ts';
import { carrySecrets, joinSecrets, readSecrets, splitSecrets, takeRemovals, type Secrets } from './secrets.ts';
import { mergePatch } from '../merge-patch.ts';

/** An agent as returned by the API: never carries a secret, only which ones are set. */
export interface AgentView extends AgentConfig {
  id: string;
  name: string;
  description: string | null;
  metadata: Record<string, unknown>;
  secrets: string[];
  version: number;
  created_at: Date;
  updated_at: Date;
}

export interface PublicAgentView {
  id: string;
  name: string;
  description: string | null;
  llm: Pick<AgentConfig['llm'], 'provider' | 'model'>;
  streaming: AgentConfig['streaming'];
  created_at: Date;
  updated_at: Date;
}

/** Everything needed to run an agent: config with secrets joined back in. */
export interface RunnableAgent {
  id: string;
  org_id: string;
  name: string;
  version: number;
  config: AgentConfig;
}

export class AgentConfigError extends Error {
  constructor(readonly issues: z.core.$ZodIssue[]) {
    super(issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
}

export interface AgentHooks {
  onChange?: (id: string) => void;
  /** the memory embedder changed: stored vectors are in the old space */
  onEmbedderChange?: (orgId: string, id: string, version: number) => void;
  /** throws when the config names a target the egress policy refuses (AgentEgressError) */
  checkTargets?: (config: AgentConfig) => Promise<void>;
}

type AgentInput = z.output<typeof agentInput>;

/** An agent's config: its input without the descriptive fields. */
const configOf = ({ name: _n, description: _d, metadata: _m, ...config }: AgentInput): AgentConfig => config;

/** What an update did: the stored agent, and the secrets it dropped because their endpoint changed. */
export interface AgentUpdate {
  row: repo.AgentRow;
  dropped_secrets: string[];
}

export function createAgents(db: Db, box: SecretBox, providers: PlatformProviders, hooks: AgentHooks = {}) {
  const changed = (id: string) => hooks.onChange?.(id);
  const seal = (secrets: Secrets) => (Object.keys(secrets).length ? box.seal(JSON.stringify(secrets)) : null);
  const unseal = (row: repo.AgentRow): Secrets => (row.secrets ? readSecrets(JSON.parse(box.open(row.secrets)), row.config as AgentConfig, providers) : {});

  /** The row to store: the config without its secrets, the secrets (given now, and `kept` from before) sealed apart. */
  function toWrite(input: AgentInput, split = splitSecrets(configOf(input), providers), kept: Secrets = {}): repo.AgentWrite {
    return {
      name: input.name,
      description: input.description ?? null,
      metadata: input.metadata,
      config: split.config,
      secrets: seal({ ...kept, ...split.secrets }),
    };
  }

  return {
    view(row: repo.AgentRow): AgentView {
      const config = row.config as AgentConfig;
      return {
        id: row.id,
        name: row.name,
        description: row.description,
        metadata: row.metadata,
        ...config,
        secrets: Object.keys(unseal(row)),
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
      };
    },

    /** What an end user's (scoped) key sees of an agent: enough to pick it and stream from it; no prompt, tools or endpoints. */
    publicView(row: repo.AgentRow): PublicAgentView {
      const config = row.config as AgentConfig;
      return {
        id: row.id,
        name: row.name,
        description: row.description,
        llm: { provider: config.llm.provider, model: config.llm.model },
        streaming: config.streaming,
        created_at: row.created_at,
        updated_at: row.updated_at,
      };
    },

    runnable(row: repo.AgentRow): RunnableAgent {
      return { id: row.id, org_id: row.org_id, name: row.name, version: row.version, config: joinSecrets(row.config as AgentConfig, unseal(row), providers) };
    },

    async create(orgId: string, input: AgentInput) {
      await hooks.checkTargets?.(input);
      return repo.insertAgent(db, orgId, toWrite(input));
    },

    get: (orgId: string, id: string) => repo.getAgent(db, orgId, id),
    list: (orgId: string, limit: number, offset: number, ids?: string[]) => repo.listAgents(db, orgId, limit, offset, ids),
    async delete(orgId: string, id: string) {
      const deleted = await repo.deleteAgent(db, orgId, id);
      if (deleted) changed(id);
      return deleted;
    },

    /**
     * Applies the patch to the stored agent (a JSON merge patch), validates the whole, stores it. A stored
     * secret survives only while its endpoint (provider and origin) stays the same.
     */
    async update(orgId: string, id: string, body: z.output<typeof agentPatch>): Promise<AgentUpdate | undefined> {
      const { patch, removed } = takeRemovals(body);
      return db
        .transaction(async (tx) => {
          const row = await repo.getAgent(tx, orgId, id);
          if (!row) return undefined;
          const before = row.config as AgentConfig;
          const current = { name: row.name, description: row.description ?? undefined, metadata: row.metadata, ...before };
          const parsed = agentInput.safeParse(mergePatch(current, patch));
          if (!parsed.success) throw new AgentConfigError(parsed.error.issues);
          await hooks.checkTargets?.(parsed.data);
          const after = configOf(parsed.data);
          const split = splitSecrets(after, providers);
          const { kept, dropped } = carrySecrets(unseal(row), before, after, split.secrets, removed, providers);
          const updated = await repo.updateAgent(tx, orgId, id, toWrite(parsed.data, split, kept));
          // The vector space is the embedder's provider, model, dimensions and endpoint, not its key.
          // So does vector_weight: the local embedder's vectors are stored only while they are fused (memory/memories.ts).
          const embedderChanged =
            JSON.stringify(before.memory.embedder) !== JSON.stringify(split.config.memory.embedder) ||
            (before.memory.semantic_recall.vector_weight ?? 0) !== (split.config.memory.semantic_recall.vector_weight ?? 0);
          return updated && { row: updated, dropped_secrets: dropped, embedderChanged };
        })
        .then((done) => {
          if (!done) return undefined;
          changed(id);
          if (done.embedderChanged) hooks.onEmbedderChange?.(orgId, id, done.row.version);
          return { row: done.row, dropped_secrets: done.dropped_secrets };
        });
    },
  };
}

export type Agents = ReturnType<typeof createAgents>;
