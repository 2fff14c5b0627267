// The one search over what a user's memory holds — facts, past messages, or both (each
// ranked, then fused) — shared by recall (recall.ts, a turn's) and the memories API (POST
// /memories/search). Its scope is `SearchScope`, the zod enum of recall-config.ts.
import type { MemoryScope } from '../store/repos/memories.ts';
import { fuseEpisodes, type EpisodeHit } from './episodic.ts';
import type { Restriction } from './filters.ts';
import type { MemoryDeps } from './memory-types.ts';
import { UnknownAgentError } from './memory-types.ts';
import type { z } from 'zod';
import type { messageRange, SearchScope } from './recall-config.ts';
import type { MemoryHit } from './recall.ts';

/**
 * Facts, messages, or both fused (best `topK`): each side runs only when asked for, both at
 * once. The sides are thunks so a caller that knows a side is empty pays nothing for it.
 */
export async function searchByScope<F extends { id: string; score: number }, M extends { id: string; score: number }>(
  which: SearchScope,
  topK: number,
  facts: () => Promise<F[]>,
  messages: () => Promise<M[]>,
): Promise<Array<F | M>> {
  if (which === 'facts') return facts();
  if (which === 'messages') return messages();
  // together: a side that fails fails the search at once, never as an unhandled rejection
  const [f, m] = await Promise.all([facts(), messages()]);
  return fuseEpisodes(f, m, topK);
}

/** A search of the memories API (its body, validated: src/server/routes/memories.ts, with the same `searchScope` and `messageRange` schemas). */
export type MemorySearchQuery = {
  query: string;
  agent_id?: string;
  agent_ids?: string[];
  /** undefined: any user; null: only memories without a user */
  user_id?: string | null;
  top_k: number;
  min_score: number;
  scope?: SearchScope;
  message_range?: z.output<typeof messageRange>;
  /** what was true then: the facts valid at this time (and the messages said by then) */
  as_of?: Date;
} & Restriction;

/** Hybrid search (see recall.ts). Without agent_id: the default embedder's vectors, every agent's memories. */
export function createSearch(deps: Pick<MemoryDeps, 'loadAgent' | 'embedderFor' | 'search' | 'episodes'>) {
  return async function search(orgId: string, q: MemorySearchQuery): Promise<Array<MemoryHit | EpisodeHit>> {
    const agent = q.agent_id ? await deps.loadAgent(orgId, q.agent_id) : undefined;
    if (q.agent_id && !agent) throw new UnknownAgentError(q.agent_id);
    const embedder = deps.embedderFor(agent?.config.memory.embedder);
    const scope: MemoryScope = { orgId, agentId: q.agent_id, agentIds: q.agent_ids, userId: q.user_id, ...(q.as_of ? { asOf: q.as_of } : {}) };
    const { filters, created_after } = q;
    const created_before = q.as_of && (!q.created_before || q.as_of < q.created_before) ? q.as_of : q.created_before;
    const common = { minScore: q.min_score, filters, created_after, created_before };
    const episodes = deps.episodes;
    const agentId = q.agent_id;
    return searchByScope(
      q.scope ?? 'facts',
      q.top_k,
      () => deps.search(embedder, scope, q.query, { topK: q.top_k, ...common, vectorWeight: agent?.config.memory.semantic_recall?.vector_weight }),
      // past messages belong to one agent's sessions: that agent is named
      async () =>
        episodes && agentId
          ? episodes.search({ orgId, agentId, userId: q.user_id ?? null }, q.query, { topK: q.top_k, range: q.message_range, ...common })
          : [],
    );
  };
}
