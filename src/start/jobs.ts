// Work off the request path: the durable job queue (memory extraction, summaries,
// re-embedding), webhook deliveries and the purge of old rows. All of it waits while any
// request awaits its first token (the gate), and none of it starts before the server listens.
import type { ReadyAgent } from '../agent/cache.ts';
import { createModelProviders } from '../agent/model-providers.ts';
import { poolUseful } from '../memory/after-turn.ts';
import { EXTRACT_JOB, extractionHandler } from '../memory/extraction.ts';
import { createFirstTokenGate, createJobQueue, type FirstTokenGate, type JobHandler, type JobQueue } from '../memory/jobs.ts';
import { EMBED_JOB, embedHandler, REEMBED_JOB, reembedHandler } from '../memory/reembed.ts';
import { startRetention } from '../memory/retention.ts';
import { SUMMARY_JOB, summaryHandler } from '../memory/summaries.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { createWebhookDelivery } from '../webhooks/delivery.ts';
import { createWebhookEndpoints } from '../webhooks/endpoints.ts';
import type { Base, LoadAgent } from './base.ts';
import type { MemoryServices } from './memory.ts';

/**
 * The queue, built before the services that queue work (an agent whose embedder changes
 * queues a re-embedding); its handlers, which need those services, are registered after
 * them (`registerJobHandlers`). Nothing runs before `jobs.start()`.
 */
export function buildJobQueue({ config, db, log }: Base) {
  // Background work (extraction) waits while any request awaits its first token.
  const gate = createFirstTokenGate();
  const handlers: Record<string, JobHandler> = {};
  const jobs = createJobQueue(db, {
    gate,
    lockMs: config.jobLockMs,
    handlers,
    onError: (err, job) => log.warn({ err, job: job?.id, kind: job?.kind, attempt: job?.attempts }, 'background job failed'),
  });
  return { gate, jobs, handlers };
}

export function registerJobHandlers(
  { config, db, pool }: Base,
  handlers: Record<string, JobHandler>,
  loadAgent: LoadAgent,
  { memories, history, predictions, predict, embedderFor }: MemoryServices,
  jobs: JobQueue,
): void {
  const providerFor = createModelProviders(pool, config);
  handlers[EXTRACT_JOB] = extractionHandler<ReadyAgent>({
    db,
    memories,
    loadAgent,
    related: async (org, agentId, userId, query, topK) => {
      const agent = await loadAgent(org, agentId);
      return agent ? predictions.related(agent, userId, query, topK, poolUseful(agent, embedderFor)) : [];
    },
    afterApply: predict,
    providerFor,
  });
  handlers[SUMMARY_JOB] = summaryHandler<ReadyAgent>({ db, history, loadAgent, providerFor });
  handlers[REEMBED_JOB] = reembedHandler({ db, embedderFor, loadAgent });
  handlers[EMBED_JOB] = embedHandler({ db, embedderFor, loadAgent, enqueue: (job) => jobs.enqueue(job) });
}

/** Webhooks: the outbox is written with each change; this instance's worker sends it. */
export function buildWebhooks({ config, db, log }: Base, box: SecretBox, gate: FirstTokenGate) {
  const webhooks = createWebhookEndpoints(db, { box, egress: config.egress });
  const deliveries = createWebhookDelivery(db, {
    box,
    egress: config.egress,
    gate,
    timeoutMs: config.webhookTimeoutMs,
    backoffMs: config.webhookBackoffMs,
    maxAttempts: config.webhookMaxAttempts,
    retentionMs: config.webhookRetentionMs,
    pollMs: config.webhookPollMs,
    onError: (err, d) => log.warn({ err, delivery: d?.id, endpoint: d?.endpoint_id, attempt: d?.attempt }, 'webhook delivery failed'),
  });
  return { webhooks, deliveries };
}

/** The purge of finished jobs and old memory history, on its schedule. */
export function startPurge({ config, db, log }: Base) {
  return startRetention(db, {
    jobRetentionMs: config.jobRetentionMs,
    historyRetentionMs: config.memoryHistoryRetentionDays * 86_400_000,
    batch: config.purgeBatch,
    onError: (err) => log.warn({ err }, 'purging old rows failed; retried on schedule'),
    onPurged: (table, rows) => log.info({ table, rows }, 'old rows purged'),
  });
}
