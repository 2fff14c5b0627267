// The types the memories modules share (memory-write.ts, memory-add.ts, memory-apply.ts,
// memory-search.ts, memories.ts): a leaf they all import, so none imports another's factory.
import type { EmbedderConfig, EmbedderFor } from './embedders/index.ts';
import type { Episodes } from './episodic.ts';
import type { Db, Queryable } from '../store/db.ts';
import type { NewMemory } from '../store/repos/memories.ts';
import type { Delta } from '../store/invalidation.ts';
import type { SearchMemories } from './recall.ts';

export interface NewMemoryInput {
  content: string;
  agent_id?: string;
  user_id?: string;
  metadata?: Record<string, unknown>;
  /** when it was said (an imported message's time): relative dates resolve from it, and the fact is valid from then */
  said_at?: Date;
}

/** One change a write made (a `memory_update` event carries it to the client). DUPLICATE: the fact was already there (memory_id), nothing written. */
export interface MemoryChange {
  event: 'ADD' | 'UPDATE' | 'DELETE' | 'DUPLICATE';
  memory_id: string;
  content: string | null;
}

/** A fact that stopped being current without being erased (the hook for a `memory.superseded` event). */
export interface Superseded {
  /** the memory whose fact ended */
  memory_id: string;
  /** the row that keeps the ended content: an earlier version's own id (content replaced), or memory_id itself (ended) */
  version_id: string;
  content: string;
  valid_from: Date;
  valid_to: Date;
  /** the memory that carries the fact on (null: deleted by extraction) */
  superseded_by: string | null;
  ended_by: string | null;
  source: string;
}

/** What addMany wrote: ids in input order (a duplicate's is the memory that already holds it). */
export interface AddResult {
  ids: string[];
  duplicates: Array<{ index: number; duplicate_of: string }>;
}

/** An agent_id that does not exist in the caller's org. */
export class UnknownAgentError extends Error {
  constructor(readonly agentId: string) {
    super('Agent not found.');
  }
}

/** A change to a memory that is no longer current: its successor (if any) is the one to change. */
export class SupersededMemoryError extends Error {
  constructor(readonly supersededBy: string | null) {
    super(
      supersededBy
        ? `This memory was superseded by ${supersededBy}; change that one.`
        : 'This memory was deleted by extraction and is kept only as history; add the fact again instead.',
    );
  }
}

export interface MemoryDeps {
  db: Db;
  /** the agent if it exists in this org; its memory.embedder decides the vector space */
  loadAgent(
    orgId: string,
    agentId: string,
  ): Promise<{ config: { memory: { embedder: EmbedderConfig; semantic_recall?: { vector_weight?: number } } } } | undefined>;
  embedderFor: EmbedderFor;
  search: SearchMemories;
  /** the user's past messages (episodic recall); without it, search covers facts only */
  episodes?: Episodes;
  /** in a write's transaction, once its scope's version moved to `to`: that commit is this instance's own, its onChange to follow (memory-sync.ts) */
  onWriting?: (orgId: string, agentId: string | null, userId: string | null, to: number) => void;
  /** after a write commits: the (agent, user) scope whose memories changed, the versions it went through and the ids (memory-sync.ts) */
  onChange?: (orgId: string, agentId: string | null, userId: string | null, delta: Delta) => void;
  /** after a write commits: the facts it superseded (see `superseded` below) */
  onSuperseded?: (orgId: string, facts: Superseded[]) => void;
  /** in a write's transaction: rows stored with `vector_pending`, their vectors to follow (reembed.ts, queueEmbeddings); without it, writes embed first */
  onVectorsPending?: (tx: Queryable, orgId: string, rows: NewMemory[]) => Promise<void>;
}
