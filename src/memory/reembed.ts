// Vectors computed off the request path, by durable jobs (jobs.ts), in batches:
//
// - `memory.embed`: a write with a slow embedder (local-neural) stores its memories with
//   `vector_pending` and no vector (the text side finds them at once; recall ranks them by
//   text alone until then) and queues this job in the same transaction. The job embeds the
//   agent's pending memories a batch at a time and stores each vector unless the memory's text
//   changed meanwhile. The queue is the pending rows themselves, so it is bounded by the
//   store and survives a restart with the job that drains it.
// - `memory.reembed`: when an agent's embedder changes, its memories' vectors belong to the
//   old space and vector search would skip them: embedded again with the current embedder.
//   Idempotent: it only touches rows not yet in that space.
import type { Db, Queryable } from '../store/db.ts';
import type { Job } from '../store/repos/jobs.ts';
import { clearPendingEmbeddings, pendingEmbeddings, setEmbeddings, setPendingEmbeddings, staleEmbeddings, vectorLiteral } from '../store/repos/memories.ts';
import type { Embedder, EmbedderConfig, EmbedderFor } from './embedders/index.ts';
import { vectorWeightOf } from './recall.ts';

export const REEMBED_JOB = 'memory.reembed';
export const EMBED_JOB = 'memory.embed';
const BATCH = 256;
// Pending memories per embed() call and per UPDATE: the local-neural worker takes them 16 at
// a time, and a query still goes ahead of them there.
const PENDING_BATCH = 32;
// Batches per run of `memory.embed`: 128 memories, ~1.5 s of the model's CPU (a shutdown waits
// for one run). More pending: the job queues its successor and ends, so extraction jobs queued
// meanwhile are not held behind a bulk import.
const PENDING_BATCHES_PER_RUN = 4;

type JobInput = { org_id: string; kind: string; payload: object; idempotency_key?: string };

export interface ReembedDeps {
  db: Db;
  embedderFor: EmbedderFor;
  loadAgent(
    orgId: string,
    agentId: string,
  ): Promise<{ config: { memory: { embedder: EmbedderConfig; semantic_recall?: { vector_weight?: number } } } } | undefined>;
}

/** The agent's embedder, or null when its recall reads no vectors (then none is stored). */
async function vectorEmbedderOf(deps: ReembedDeps, orgId: string, agentId: string): Promise<Embedder | null | undefined> {
  const agent = await deps.loadAgent(orgId, agentId);
  if (!agent) return undefined;
  const embedder = deps.embedderFor(agent.config.memory.embedder);
  return (agent.config.memory.semantic_recall?.vector_weight ?? vectorWeightOf(embedder)) > 0 ? embedder : null;
}

export function reembedHandler(deps: ReembedDeps) {
  return async (job: Job): Promise<{ reembedded: number }> => {
    const agentId = (job.payload as { agent_id: string }).agent_id;
    let reembedded = 0;
    for (;;) {
      // The agent as it is now: a second change during the job is picked up by the next batch.
      const embedder = await vectorEmbedderOf(deps, job.org_id, agentId);
      // vectors recall never reads (the local embedder, not fused) are not stored at all
      if (!embedder) return { reembedded };
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

/** Inside a write's transaction: one `memory.embed` job per agent whose new memories wait for their vectors. */
export async function queueEmbeddings(
  enqueue: (job: JobInput, q: Queryable) => Promise<unknown>,
  tx: Queryable,
  orgId: string,
  rows: Array<{ id: string; agent_id: string | null; vector_pending?: boolean }>,
): Promise<void> {
  const first = new Map<string, string>(); // agent → its first pending row: the job's key
  for (const r of rows) if (r.vector_pending && r.agent_id && !first.has(r.agent_id)) first.set(r.agent_id, r.id);
  for (const [agentId, rowId] of first)
    await enqueue({ org_id: orgId, kind: EMBED_JOB, payload: { agent_id: agentId }, idempotency_key: `embed:${agentId}:${rowId}` }, tx);
}

export interface EmbedDeps extends ReembedDeps {
  /** queues the successor of a run that left memories pending */
  enqueue(job: JobInput): Promise<unknown>;
}

export function embedHandler(deps: EmbedDeps) {
  return async (job: Job): Promise<{ embedded: number; more: boolean }> => {
    const agentId = (job.payload as { agent_id: string }).agent_id;
    let embedded = 0;
    for (let batch = 0; batch < PENDING_BATCHES_PER_RUN; batch++) {
      // The agent as it is now (an embedder change meanwhile: the new one's vectors).
      const embedder = await vectorEmbedderOf(deps, job.org_id, agentId);
      if (embedder === undefined) return { embedded, more: false }; // deleted: its memories went with it
      if (!embedder) {
        await clearPendingEmbeddings(deps.db, job.org_id, agentId);
        return { embedded, more: false };
      }
      const rows = await pendingEmbeddings(deps.db, job.org_id, agentId, PENDING_BATCH);
      if (!rows.length) return { embedded, more: false };
      const vectors = await embedder.embed(rows.map((r) => r.content));
      embedded += await setPendingEmbeddings(
        deps.db,
        job.org_id,
        rows.map((r, i) => ({ id: r.id, content: r.content, embedding: vectorLiteral(vectors[i]!) })),
        embedder.id,
      );
    }
    const [next] = await pendingEmbeddings(deps.db, job.org_id, agentId, 1);
    if (next)
      await deps.enqueue({ org_id: job.org_id, kind: EMBED_JOB, payload: { agent_id: agentId }, idempotency_key: `embed:${agentId}:${next.id}:${job.id}` });
    return { embedded, more: !!next };
  };
}
