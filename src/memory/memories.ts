// Memories as the API sees them: add (one or many), list, get, update, delete, search,
// history, and `apply` (extraction's ADD/UPDATE/DELETE decisions). Every write and its
// memory_history row commit in one transaction; everything is scoped to the caller's org.
// The parts, each in its own module:
//   memory-add.ts        add one or many (duplicates found, written in pieces, undone on failure)
//   memory-apply.ts      extraction's decisions (memory-decision.ts: one shape per event)
//   memory-search.ts     facts / messages / both, shared with recall
//   memory-write.ts      the steps of every write: supersede, change in place, erase, scope versions, the index
//   memory-embedding.ts  which embedder a write uses and its vectors (before the transaction)
//   memory-events.ts     history rows and webhook events
//   memory-types.ts      the types and errors they share
import * as repo from '../store/repos/memories.ts';
import type { Memory } from '../store/repos/memories.ts';
import { createAddMany } from './memory-add.ts';
import { createApply } from './memory-apply.ts';
import { createMemoryEmbedding } from './memory-embedding.ts';
import { createSearch } from './memory-search.ts';
import { createMemoryWrites, type MemoryWrites } from './memory-write.ts';
import type { MemoryEmbedding } from './memory-embedding.ts';
import type { Db } from '../store/db.ts';
import { SupersededMemoryError, type MemoryDeps, type NewMemoryInput, type Superseded } from './memory-types.ts';
import type { ImportedMessage } from '../store/repos/message-search.ts';

export * from './memory-types.ts';

export function createMemories(deps: MemoryDeps) {
  const { db } = deps;
  const embedding = createMemoryEmbedding(deps);
  const writes = createMemoryWrites(deps);
  const addMany = createAddMany(db, embedding, writes, deps.onVectorsPending);
  return {
    addMany,

    /** The memory written, or (with `duplicate_of`) the current memory of its scope that already holds the fact. */
    async add(orgId: string, item: NewMemoryInput, source = 'api'): Promise<Memory & { duplicate_of?: string }> {
      const { ids, duplicates } = await addMany(orgId, [item], source);
      const memory = (await repo.getMemory(db, orgId, ids[0]!))!;
      return duplicates.length ? { ...memory, duplicate_of: memory.id } : memory;
    },

    get: (orgId: string, id: string) => repo.getMemory(db, orgId, id),

    /** Current memories, newest first; an agent filter must name an agent of this org. */
    async list(orgId: string, filter: { agent_id?: string; agent_ids?: string[]; user_id?: string }, limit: number, offset: number): Promise<Memory[]> {
      if (filter.agent_id) await embedding.embedderConfigOf(orgId, filter.agent_id);
      return repo.listMemories(db, { orgId, agentId: filter.agent_id, agentIds: filter.agent_ids, userId: filter.user_id }, limit, offset);
    },

    update: createUpdate(db, embedding, writes),

    /** Erases the memory (and its earlier versions, and the content of its history): "forget this". */
    async delete(orgId: string, id: string, source = 'api'): Promise<boolean> {
      const done = await db.transaction(async (tx) => {
        const old = await writes.deleteIn(tx, orgId, id, source);
        return old && { old, announce: await writes.bump(tx, orgId, [old]) };
      });
      if (!done) return false;
      writes.unindexed(orgId, done.old);
      done.announce();
      return true;
    },

    apply: createApply(db, embedding, writes),

    search: createSearch(deps),

    /** A past conversation imported as a new session of the agent (see episodic.ts). */
    async importSession(
      orgId: string,
      s: { agent_id: string; user_id: string | null; title?: string | null; metadata?: Record<string, unknown> },
      messages: ImportedMessage[],
    ) {
      await embedding.embedderConfigOf(orgId, s.agent_id); // an agent of this org
      if (!deps.episodes) throw new Error('episodic memory is not configured');
      return deps.episodes.importSession({ org_id: orgId, ...s }, messages);
    },

    /**
     * The memory's events, oldest first, and its versions (the chain: each earlier content
     * with when it held and what superseded it, then the memory as it is); undefined if this
     * org has no trace of it. An earlier version's id reads the chain of the memory it led to.
     */
    async history(orgId: string, id: string) {
      const row = await repo.getMemory(db, orgId, id);
      const main = row?.superseded_by && row.id !== row.superseded_by && !(await repo.listHistory(db, orgId, id)).length ? row.superseded_by : id;
      const [events, versions] = await Promise.all([repo.listHistory(db, orgId, main), repo.listVersions(db, orgId, main)]);
      if (!events.length && !versions.length) return undefined;
      return {
        memory_id: main,
        events,
        versions: versions.map((m) => ({
          id: m.id,
          content: m.content,
          valid_from: m.valid_from,
          valid_to: m.valid_to,
          superseded_by: m.superseded_by,
          ended_by: m.ended_by,
        })),
      };
    },
  };
}

export type Memories = ReturnType<typeof createMemories>;

/**
 * New content supersedes the old (kept as an earlier version) and is embedded again (with
 * the agent's current embedder); metadata is replaced in place. Undefined: no such
 * memory. A memory that is not current throws SupersededMemoryError.
 */
function createUpdate(db: Db, embedding: MemoryEmbedding, writes: MemoryWrites) {
  return async function update(
    orgId: string,
    id: string,
    change: { content?: string; metadata?: Record<string, unknown> },
    source = 'api',
  ): Promise<Memory | undefined> {
    const current = await repo.getMemory(db, orgId, id);
    if (!current) return undefined;
    if (current.valid_to) throw new SupersededMemoryError(current.superseded_by);
    const content = change.content !== undefined && change.content !== current.content ? change.content : null;
    const embedder = content === null ? undefined : await embedding.embedderOf(orgId, current.agent_id);
    const [vector] = content === null ? [null] : await embedding.embedAll(embedder ?? null, [content]);
    const write = { content, embedding: vector ?? null, embedder: embedder?.id ?? null, metadata: change.metadata ?? null };
    const ended: Superseded[] = [];
    let announce = () => {};
    const row = await db.transaction(async (tx) => {
      let now: Memory | undefined;
      if (write.content === null) now = await writes.updateIn(tx, orgId, id, write, source);
      else {
        const done = await writes.supersede(tx, orgId, id, { replace: { ...write, content: write.content } }, null, source);
        if (done) ended.push(done.ended);
        now = done?.memory;
      }
      if (now) announce = await writes.bump(tx, orgId, [now]);
      return now;
    });
    if (row) {
      writes.indexed(orgId, row);
      announce();
      writes.superseded(orgId, ended);
    }
    return row;
  };
}
