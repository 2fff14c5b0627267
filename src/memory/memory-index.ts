// The memories' lexical index (lexical/scope-indexes.ts over the memories table): what
// memories.ts writes is applied to it in place, and search reads it with no SQL.
import type { Db } from '../store/db.ts';
import { loadMemoryDocs, type MemoryDoc } from '../store/repos/memories.ts';
import { MEMORY_RANKING } from './lexical/bm25.ts';
import { analyze } from './lexical/tokens.ts';
import { createScopeIndexes } from './lexical/scope-indexes.ts';

/** `beforeLoad`: runs before a scope's memories are read (memory-sync.ts records the scope's version there). */
export function createMemoryIndex(
  db: Db,
  opts: { beforeLoad?: (orgId: string, leaf?: { agentId: string | null; userId: string | null }) => Promise<void> } = {},
) {
  return createScopeIndexes<MemoryDoc>({
    load: async (orgId, leaf) => {
      await opts.beforeLoad?.(orgId, leaf);
      return loadMemoryDocs(db, orgId, leaf);
    },
    terms: (m) => analyze(m.content),
    ranking: MEMORY_RANKING,
  });
}

export type MemoryIndex = ReturnType<typeof createMemoryIndex>;

/** A 'memories' message of the invalidation bus (a predictive.ts scopeKey, or '*') → the scope re-read on next use. */
export function invalidateIndexes(index: Pick<MemoryIndex, 'invalidate'>, key: string): void {
  if (key === '*') return index.invalidate('*', null, null);
  const [org, agent, user] = key.split('\u0001');
  index.invalidate(org!, agent === '*' ? '*' : agent || null, user || null);
}
