// When an agent's embedder changes, its memories' vectors belong to the old space and
// vector search would skip them: a durable job embeds them again, in batches, with the
// agent's current embedder. Idempotent: it only touches rows not yet in that space.
import type { Db } from '../store/db.ts';
import type { Job } from '../store/repos/jobs.ts';
import { setEmbeddings, staleEmbeddings, vectorLiteral } from '../store/repos/memories.ts';
import type { EmbedderConfig, EmbedderFor } from './embedders/index.ts';
import { vectorWeightOf } from './recall.ts';

export const REEMBED_JOB = 'memory.reembed';
const BATCH = 256;

export interface ReembedDeps {
  db: Db;
  embedderFor: EmbedderFor;
  loadAgent(
    orgId: string,
    agentId: string,
  ): Promise<{ config: { memory: { embedder: EmbedderConfig; semantic_recall?: { vector_weight?: number } } } } | undefined>;
}

export function reembedHandler(deps: ReembedDeps) {
  return async (job: Job): Promise<{ reembedded: number }> => {
    const agentId = (job.payload as { agent_id: string }).agent_id;
    let reembedded = 0;
    for (;;) {
      // The agent as it is now: a second change during the job is picked up by the next batch.
      const agent = await deps.loadAgent(job.org_id, agentId);
      if (!agent) return { reembedded };
      const embedder = deps.embedderFor(agent.config.memory.embedder);
      // vectors recall never reads (the local embedder, not fused) are not stored at all
      if ((agent.config.memory.semantic_recall?.vector_weight ?? vectorWeightOf(embedder)) <= 0) return { reembedded };
      const rows = await staleEmbeddings(deps.db, job.org_id, agentId, embedder.id, BATCH);
      if (!rows.length) return { reembedded };
      const vectors = await embedder.embed(rows.map((r) => r.content));
      await setEmbeddings(
        deps.db,
        job.org_id,
        rows.map((r, i) => ({ id: r.id, embedding: vectorLiteral(vectors[i]!) })),
        embedder.id,
      );
      reembedded += rows.length;
    }
  };
}
