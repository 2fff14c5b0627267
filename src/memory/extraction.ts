// Memory extraction, mem0-style, as a durable job after each finished exchange: the
// agent's own model reads the exchange beside the user's most related memories and
// answers ADD / UPDATE / DELETE / NONE per fact; the changes commit in one transaction,
// versioned in memory_history. Off the request path: queued after `done` is decided,
// and the job queue never starts work while a request awaits its first token.
import type { Provider } from '../llm/types.ts';
import type { Turn } from './history.ts';
import type { JobQueue } from './jobs.ts';
import type { Job } from '../store/repos/jobs.ts';
import { extractionMessages, parseDecisions } from './extraction-prompt.ts';
import type { MemoryChange, Memories } from './memories.ts';

export const EXTRACT_JOB = 'memory.extract';

export interface ExtractPayload {
  agent_id: string;
  user_id: string;
  session_id: string;
  message_id: string;
  user: string;
  assistant: string;
}

export interface ExtractionAgent {
  provider: Provider;
  model: string;
  config: { memory: { extract: boolean } };
}

export interface ExtractionDeps {
  memories: Memories;
  /** the user's memories most related to the message (predictive.ts keeps them as the next turn's pool) */
  related(orgId: string, agentId: string, userId: string, query: string, topK: number): Promise<Array<{ id: string; content: string }>>;
  /** after changes commit: prepare the next turn's recall again (see predictive.ts) */
  afterApply?: (orgId: string, agentId: string, userId: string, text: string) => Promise<void>;
  /** the agent as it is now (undefined: deleted, so nothing to do) */
  loadAgent(orgId: string, agentId: string): Promise<ExtractionAgent | undefined>;
}

// How many existing memories the model sees to reconcile against.
const RELATED = 20;

/** The job handler: returns the changes it made (for a stream still waiting to show them). */
export function extractionHandler(deps: ExtractionDeps) {
  return async (job: Job): Promise<MemoryChange[]> => {
    const p = job.payload as unknown as ExtractPayload;
    const agent = await deps.loadAgent(job.org_id, p.agent_id);
    if (!agent || !agent.config.memory.extract || !p.user_id) return [];
    const source = `extraction:${job.id}`;

    const related = await deps.related(job.org_id, p.agent_id, p.user_id, p.user, RELATED);
    // Short ids: models copy "3" more reliably than a UUID.
    const byShort = new Map(related.map((m, i) => [String(i), m.id]));
    const existing = related.map((m, i) => ({ id: String(i), text: m.content }));
    const answer = await agent.provider.complete({
      model: agent.model,
      messages: extractionMessages({ existing, conversation: [{ role: 'user', content: p.user }, { role: 'assistant', content: p.assistant }] }),
      temperature: 0,
      // A thinking model's reasoning is of no use here: off where the provider has a switch.
      thinking: 'disabled',
    });
    const decisions = parseDecisions(answer.text, new Set(byShort.keys())).map((d) => (d.id ? { ...d, id: byShort.get(d.id)! } : d));
    const changes = await deps.memories.apply(job.org_id, { agent_id: p.agent_id, user_id: p.user_id }, decisions, source, { session_id: p.session_id, message_id: p.message_id });
    if (changes.length) await deps.afterApply?.(job.org_id, p.agent_id, p.user_id, p.user);
    return changes;
  };
}

/**
 * RunDeps.afterTurn: queues extraction for a finished exchange, once per answer (the
 * answer's id is the idempotency key); with `wait`, resolves with the job's changes.
 */
export function extractAfterTurn(jobs: JobQueue, waitMs = 15_000) {
  return async (agent: { id: string; config: { memory: { extract: boolean } } }, turn: Turn, answer: string, wait: boolean): Promise<MemoryChange[]> => {
    // Facts belong to a user: an anonymous chat never writes memories another chat could recall.
    if (!agent.config.memory.extract || !turn.userId) return [];
    const payload: ExtractPayload = {
      agent_id: agent.id, user_id: turn.userId, session_id: turn.sessionId, message_id: turn.assistantMessageId, user: turn.userContent, assistant: answer,
    };
    const job = await jobs.enqueue({ org_id: turn.orgId, kind: EXTRACT_JOB, payload, idempotency_key: `extract:${payload.message_id}` });
    if (!job || !wait) return [];
    const done = await jobs.waitFor(job.id, waitMs);
    return done?.ok ? (done.result as MemoryChange[]) : [];
  };
}
