// The memories' lexical index (lexical/scope-indexes.ts over the memories table): what
// memories.ts writes is applied to it in place, and search reads it with no SQL.
import type { Db } from '../store/db.ts';
import { loadMemoryDocs, type MemoryDoc } from '../store/repos/memories.ts';
import { stringBytes } from './lexical/bm25.ts';
import { MEMORY_RANKING } from './recall-config.ts';
import { createScopeIndexes, type IndexBounds } from './lexical/scope-indexes.ts';
import { analyze } from './lexical/tokens.ts';
import { interner, jsonBytes } from './lexical/doc-bytes.ts';
import { MEMORY_INDEX_BYTES } from './bounds.ts';
import * as keys from '../keys.ts';

// A row object of seven fields, its two Dates and its metadata object, plus the index's growth slack, on V8 (calibrated: scripts/index-bytes.ts).
const ROW_BYTES = 264;

/** What a kept memory costs beside the index's own arrays (agent and user ids are shared by a scope's rows). */
export const memoryDocBytes = (m: MemoryDoc) => ROW_BYTES + stringBytes(m.id) + stringBytes(m.content) + jsonBytes(m.metadata);

/**
 * `beforeLoad`: runs before a scope's memories are read (memory-sync.ts records the scope's
 * version there); `leaf` is the scope when it names both an agent and a user (or their absence).
 */
export function createMemoryIndex(
  db: Db,
  opts: IndexBounds & { beforeLoad?: (orgId: string, leaf?: { agentId: string | null; userId: string | null }) => Promise<void> } = {
    maxBytes: MEMORY_INDEX_BYTES,
  },
) {
  const { beforeLoad, ...bounds } = opts;
  return createScopeIndexes<MemoryDoc>(
    {
      async load(orgId, scope) {
        const leaf = scope.agentId !== undefined && scope.userId !== undefined ? { agentId: scope.agentId, userId: scope.userId } : undefined;
        await beforeLoad?.(orgId, leaf);
        const rows = await loadMemoryDocs(db, orgId, scope);
        // one string per agent and user id, not one per row
        const intern = interner();
        for (const r of rows) {
          r.agent_id = intern(r.agent_id);
          r.user_id = intern(r.user_id);
        }
        return rows;
      },
      terms: (m) => analyze(m.content),
      bytes: memoryDocBytes,
      ranking: MEMORY_RANKING,
    },
    bounds,
  );
}

export type MemoryIndex = ReturnType<typeof createMemoryIndex>;

/** A 'memories' message of the invalidation bus (a predictive.ts scopeKey, or '*') → the scope re-read on next use. */
export function invalidateIndexes(index: Pick<MemoryIndex, 'invalidate'>, key: string): void {
  if (key === '*') return index.invalidate('*', null, null);
  const { orgId, agentId, userId } = keys.readScopeKey(key);
  index.invalidate(orgId, agentId === undefined ? '*' : agentId, userId ?? null);
}
