// Which embedder a memory write uses, and the vectors it stores. Embedding happens before
// a write's transaction, so a slow remote embedder never holds a connection (or PGlite's only one).
import * as repo from '../store/repos/memories.ts';
import type { NewMemory } from '../store/repos/memories.ts';
import type { Embedder, EmbedderConfig } from './embedders/index.ts';
import { UnknownAgentError, type MemoryDeps } from './memory-types.ts';
import { vectorWeightOf } from './recall.ts';

// Texts per embed() call: bounds memory use and lets remote embedders chunk further.
const EMBED_CHUNK = 2_048;

export function createMemoryEmbedding(deps: Pick<MemoryDeps, 'loadAgent' | 'embedderFor' | 'onVectorsPending'>) {
  /** The agent's embedder config; throws for an agent that is not in this org. */
  async function embedderConfigOf(orgId: string, agentId: string): Promise<EmbedderConfig> {
    const agent = await deps.loadAgent(orgId, agentId);
    if (!agent) throw new UnknownAgentError(agentId);
    return agent.config.memory.embedder;
  }

  /**
   * The embedder whose vectors a write stores (none: the default local one), or null when
   * recall would never read them: the local embedder's vectors are fused only when the
   * agent sets `semantic_recall.vector_weight` (recall.ts), so by default none is computed
   * or indexed — writes skip the HNSW insert, most of their cost.
   */
  async function embedderOf(orgId: string, agentId: string | null | undefined): Promise<Embedder | null> {
    const agent = agentId ? await deps.loadAgent(orgId, agentId) : undefined;
    if (agentId && !agent) throw new UnknownAgentError(agentId);
    const embedder = deps.embedderFor(agent?.config.memory.embedder);
    return (agent?.config.memory.semantic_recall?.vector_weight ?? vectorWeightOf(embedder)) > 0 ? embedder : null;
  }

  async function embedAll(embedder: Embedder | null, texts: string[]): Promise<Array<string | null>> {
    if (!embedder) return texts.map(() => null);
    const out: string[] = [];
    for (let i = 0; i < texts.length; i += EMBED_CHUNK) {
      for (const v of await embedder.embed(texts.slice(i, i + EMBED_CHUNK))) out.push(repo.vectorLiteral(v));
    }
    return out;
  }

  /** Each row's vector from its agent's embedder (none when recall would not read it). */
  async function embedPiece(piece: NewMemory[], embedders: Map<string | null, Embedder | null>): Promise<void> {
    const groups = new Map<string | null, NewMemory[]>();
    for (const r of piece) {
      const group = groups.get(r.agent_id);
      if (group) group.push(r);
      else groups.set(r.agent_id, [r]);
    }
    for (const [agentId, group] of groups) {
      const embedder = embedders.get(agentId) ?? null;
      // A slow model (local-neural) does not hold the write: stored now, the vector follows (reembed.ts).
      if (embedder?.background && deps.onVectorsPending) {
        for (const r of group) Object.assign(r, { embedding: null, embedder: null, vector_pending: true });
        continue;
      }
      const vectors = await embedAll(
        embedder,
        group.map((r) => r.content),
      );
      group.forEach((r, i) => Object.assign(r, { embedding: vectors[i], embedder: embedder?.id ?? null }));
    }
  }

  return { embedderConfigOf, embedderOf, embedAll, embedPiece };
}

export type MemoryEmbedding = ReturnType<typeof createMemoryEmbedding>;
