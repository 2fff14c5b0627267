// The steps every memory write is made of, inside its transaction and after it commits:
// scope versions moved (and announced once committed), a memory superseded, changed in place
// or erased with its history row and webhook event, and the lexical index kept current.
//
// Facts know their time (docs/memory.md, "Facts over time"): new content and extraction's
// DELETE supersede — the old fact stays, valid until then, readable through `as_of` and the
// history — while an API delete and forgetting a user erase.
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../store/db.ts';
import * as repo from '../store/repos/memories.ts';
import type { Memory, NewMemory } from '../store/repos/memories.ts';
import { bumpScopeVersions, versionKey } from '../store/repos/scope-versions.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import { deletedEvent, historyRow, supersededEvent, updatedEvent } from './memory-events.ts';
import type { MemoryDeps, Superseded } from './memory-types.ts';

type Scoped = { id: string; agent_id: string | null; user_id: string | null };
type Change = Parameters<typeof repo.updateMemory>[3];
/** A row as the lexical index keeps it: current, without its validity. */
export type IndexedDoc = Omit<repo.MemoryDoc, 'embedder'> & { embedder?: unknown };

/** A new row as the index reads it from the store. */
export const docOf = (r: NewMemory) => ({
  id: r.id,
  agent_id: r.agent_id,
  user_id: r.user_id,
  content: r.content,
  metadata: r.metadata as Record<string, unknown>,
  created_at: r.created_at,
  updated_at: r.created_at,
  valid_from: r.valid_from ?? r.created_at,
});

const endedOf = (memoryId: string, version: Memory, by: string | null, source: string): Superseded => ({
  memory_id: memoryId,
  version_id: version.id,
  content: version.content,
  valid_from: version.valid_from,
  valid_to: version.valid_to!,
  superseded_by: by,
  ended_by: version.ended_by,
  source,
});

export function createMemoryWrites(deps: Pick<MemoryDeps, 'search' | 'onChange' | 'onWriting' | 'onSuperseded'>) {
  // The lexical index is kept current here, after each commit (see lexical/scope-indexes.ts).
  const index = deps.search.index;

  /** Inside a write's transaction: the scopes of the rows it touched move to their next version; the result announces them once committed. */
  async function bump(tx: Queryable, orgId: string, rows: Scoped[]): Promise<() => void> {
    const versions = await bumpScopeVersions(
      tx,
      orgId,
      rows.map((r) => ({ agentId: r.agent_id, userId: r.user_id })),
    );
    // the rows by scope, once: each scope's version is this instance's own until announced
    const byScope = new Map<string, Scoped[]>();
    for (const r of rows) {
      const key = versionKey(r.agent_id, r.user_id);
      const group = byScope.get(key);
      if (group) group.push(r);
      else byScope.set(key, [r]);
    }
    for (const [key, [first]] of byScope) deps.onWriting?.(orgId, first!.agent_id, first!.user_id, versions.get(key)!);
    return () => {
      for (const [key, group] of byScope) {
        const to = versions.get(key)!;
        deps.onChange?.(orgId, group[0]!.agent_id, group[0]!.user_id, { from: to - 1, to, ids: group.map((r) => r.id) });
      }
    };
  }

  /** After a commit: the row as it now is, in the index. */
  function indexed(orgId: string, m: IndexedDoc): void {
    const { embedder: _, valid_from: _f, valid_to: _t, superseded_by: _s, ended_by: _e, ...doc } = m as Memory;
    index.put(orgId, doc);
  }

  /** After a commit: the row gone from the index. */
  const unindexed = (orgId: string, m: Memory): void => index.remove(orgId, m);

  /** After a commit: the facts that ended (nothing listens yet; webhooks hook here). */
  function superseded(orgId: string, facts: Superseded[]): void {
    if (facts.length) deps.onSuperseded?.(orgId, facts);
  }

  return { bump, indexed, unindexed, superseded, updateIn, supersede, deleteIn };
}

/** Metadata only: changed in place (no new version). */
async function updateIn(tx: Queryable, orgId: string, id: string, change: Change, source: string): Promise<Memory | undefined> {
  const row = await repo.updateMemory(tx, orgId, id, change);
  if (!row) return undefined;
  const { old_content, old_metadata, ...memory } = row;
  await repo.insertHistory(tx, orgId, [historyRow(id, 'UPDATE', { content: old_content, metadata: old_metadata }, memory, source)]);
  await emitEvents(tx, orgId, [updatedEvent(memory, { content: old_content, metadata: old_metadata }, source)]);
  return memory;
}

/**
 * Every supersede happens here: the memory's current fact ends now (kept, valid until
 * now, readable by `as_of` and the history), because
 * - `replace`: it takes new content (its old content stays as an earlier version, a row of its own), or
 * - `successor`: another current memory holds the same fact, or
 * - neither: extraction deleted it.
 * Returns the memory as it is now (undefined: it was not current) and what ended, for
 * `onSuperseded` after the transaction commits (the hook for a `memory.superseded` event).
 */
async function supersede(
  tx: Queryable,
  orgId: string,
  id: string,
  how: { replace?: Change & { content: string }; successor?: string },
  endedBy: string | null,
  source: string,
): Promise<{ memory: Memory; ended: Superseded } | undefined> {
  if (how.replace) {
    const versionId = randomUUID();
    if (!(await repo.keepVersion(tx, orgId, id, { id: versionId, supersededBy: id, endedBy }))) return undefined;
    const memory = await updateIn(tx, orgId, id, how.replace, source);
    if (!memory) return undefined;
    const version = (await repo.getMemory(tx, orgId, versionId))!;
    return { memory, ended: endedOf(id, version, id, source) };
  }
  const ended = await repo.endMemory(tx, orgId, id, { supersededBy: how.successor ?? null, endedBy });
  if (!ended) return undefined;
  await repo.insertHistory(tx, orgId, [historyRow(id, 'DELETE', ended, null, source)]);
  await emitEvents(tx, orgId, [supersededEvent(ended, how.successor ?? null, source)]);
  return { memory: ended, ended: endedOf(id, ended, how.successor ?? null, source) };
}

/** Erases the memory (and its earlier versions, and the content of its history). */
async function deleteIn(tx: Queryable, orgId: string, id: string, source: string): Promise<Memory | undefined> {
  const old = await repo.deleteMemory(tx, orgId, id);
  if (!old) return undefined;
  // The event stays for the record, without the content that was erased.
  await repo.insertHistory(tx, orgId, [historyRow(id, 'DELETE', null, null, source)]);
  await emitEvents(tx, orgId, [deletedEvent(old, source)]);
  return old;
}

export type MemoryWrites = ReturnType<typeof createMemoryWrites>;
