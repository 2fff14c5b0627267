// Working memory: one block of text per (agent, user), or per session with
// `memory.working.scope: "session"`, in every prompt (beside the user's message: agent/prompt.ts). Set through the API
// or by the agent itself with the `working_memory_update` tool. Cached like the history
// window: a turn reads it without a round trip; a write updates this instance's copy and
// tells the others to drop theirs (the invalidation bus).
import { LRUCache } from 'lru-cache';
import { cachedCount } from '../llm/token-count.ts';
import type { ToolSpec } from '../llm/types.ts';
import type { Db } from '../store/db.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import * as repo from '../store/repos/working-memory.ts';
import type { WorkingScope } from '../store/repos/working-memory.ts';
import * as keys from '../keys.ts';

export const WORKING_MEMORY_MAX_CHARS = 16_000;
export const WORKING_TOOL = 'working_memory_update';

export interface WorkingConfig {
  enabled: boolean;
  scope: WorkingScope;
  template?: string;
}

export interface WorkingMemory {
  content: string;
  /** null: nothing written yet (content is the template, or empty) */
  updated_at: Date | null;
}

interface Entry {
  row?: repo.WorkingMemoryRow;
}

export const workingToolSpec: ToolSpec = {
  name: WORKING_TOOL,
  description:
    'Replace your working memory about this user with new content: the whole block, as it should read from now on ' +
    '(keep what still holds, change what changed). It is shown to you with every message of the user.',
  parameters: {
    type: 'object',
    properties: { content: { type: 'string', description: `the new working memory, at most ${WORKING_MEMORY_MAX_CHARS} characters` } },
    required: ['content'],
  },
};

export function createWorkingMemory(db: Db, opts: { onChange?: (key: string) => void; max?: number } = {}) {
  const cache = new LRUCache<string, Entry>({ max: opts.max ?? 10_000 });
  const keyOf = keys.workingKey;

  async function read(orgId: string, agentId: string, scope: WorkingScope, owner: string): Promise<repo.WorkingMemoryRow | undefined> {
    const key = keyOf(orgId, agentId, scope, owner);
    const hit = cache.get(key);
    if (hit) return hit.row;
    const row = await repo.getWorkingMemory(db, orgId, agentId, scope, owner);
    if (row) cachedCount(row.content); // counted when loaded: the turn's prompt finds the count
    cache.set(key, { row });
    return row;
  }

  async function write(orgId: string, agentId: string, scope: WorkingScope, owner: string, content: string): Promise<repo.WorkingMemoryRow> {
    // The webhook event commits with the block (webhooks/outbox.ts).
    const row = await db.transaction(async (tx) => {
      const written = await repo.putWorkingMemory(tx, orgId, agentId, scope, owner, content);
      await emitEvents(tx, orgId, [
        {
          type: 'working_memory.updated',
          user_id: scope === 'user' ? owner : null,
          data: { agent_id: agentId, scope, owner, content: written.content, updated_at: new Date(written.updated_at).toISOString() },
        },
      ]);
      return written;
    });
    const key = keyOf(orgId, agentId, scope, owner);
    cachedCount(row.content);
    cache.set(key, { row });
    opts.onChange?.(key);
    return row;
  }

  const view = (row: repo.WorkingMemoryRow | undefined, template?: string): WorkingMemory => ({
    content: row?.content ?? template ?? '',
    updated_at: row?.updated_at ?? null,
  });

  /** Whose block a turn uses: the user's, or the session's; undefined when there is none (no user). */
  const ownerOf = (config: WorkingConfig, userId: string | null, sessionId: string): { scope: WorkingScope; owner: string } | undefined =>
    config.scope === 'session' ? { scope: 'session', owner: sessionId } : userId ? { scope: 'user', owner: userId } : undefined;

  return {
    get: async (orgId: string, agentId: string, scope: WorkingScope, owner: string, template?: string) =>
      view(await read(orgId, agentId, scope, owner), template),
    put: async (orgId: string, agentId: string, scope: WorkingScope, owner: string, content: string) =>
      view(await write(orgId, agentId, scope, owner, content)),

    /** The block for a turn's prompt (the template until something is written); undefined when off or ownerless. */
    async forTurn(
      config: WorkingConfig,
      orgId: string,
      agentId: string,
      userId: string | null,
      sessionId: string,
      isNewSession: boolean,
    ): Promise<string | undefined> {
      if (!config.enabled) return undefined;
      const who = ownerOf(config, userId, sessionId);
      if (!who) return undefined;
      // A session this turn creates has no block yet: no round trip to learn that.
      if (who.scope === 'session' && isNewSession) return config.template ?? '';
      return view(await read(orgId, agentId, who.scope, who.owner), config.template).content;
    },

    /** The `working_memory_update` tool: replaces the block; the new content, or an error the model reads. */
    async update(
      config: WorkingConfig,
      orgId: string,
      agentId: string,
      userId: string | null,
      sessionId: string,
      args: Record<string, unknown>,
    ): Promise<{ content?: string; error?: string }> {
      const who = ownerOf(config, userId, sessionId);
      if (!who) return { error: 'There is no user to keep working memory for.' };
      if (typeof args.content !== 'string') return { error: '"content" must be a string.' };
      if (args.content.length > WORKING_MEMORY_MAX_CHARS) return { error: `"content" is longer than ${WORKING_MEMORY_MAX_CHARS} characters: keep it shorter.` };
      const content = args.content.replaceAll('\u0000', '');
      await write(orgId, agentId, who.scope, who.owner, content);
      return { content };
    },

    /** Drops a cached block (its key from the bus; '*': all of them; agent '*': that user's of every agent). */
    invalidate(key: string) {
      if (key === '*') return cache.clear();
      const { orgId, agentId, scope, owner } = keys.readWorkingKey(key);
      if (agentId !== undefined) return void cache.delete(key);
      for (const k of [...cache.keys()]) {
        const block = keys.readWorkingKey(k);
        if (block.orgId === orgId && block.scope === scope && block.owner === owner) cache.delete(k);
      }
    },
  };
}

export type WorkingMemories = ReturnType<typeof createWorkingMemory>;

/** The bus key that drops a user's blocks of every agent (after the user is deleted). */
export const userWorkingKey = (orgId: string, userId: string) => keys.workingKey(orgId, undefined, 'user', userId);
