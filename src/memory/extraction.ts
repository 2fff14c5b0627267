// Memory extraction, mem0-style, as a durable job after finished exchanges: a model (the
// agent's own, or the cheaper `memory.extract.model`) reads the recent conversation beside
// the user's most related memories and answers ADD / UPDATE / DELETE / NONE per fact; the
// changes commit in one transaction, versioned in memory_history. The prompt sees the
// recent window within `window_tokens` (so "no, I moved to Lisbon" updates the right
// memory), `every_turns` batches several exchanges into one call, and `idle_ms` waits until
// the session has gone quiet. Off the request path: queued after `done` is decided, and
// the job queue never starts work while a request awaits its first token.
import type { Provider } from '../llm/types.ts';
import { lastMessages, messagesAfter, type Message } from '../store/repos/messages.ts';
import { getSession, markExtracted } from '../store/repos/sessions.ts';
import type { Db } from '../store/db.ts';
import type { Exchange, HistoryStore } from './history.ts';
import type { JobQueue } from './jobs.ts';
import type { Job } from '../store/repos/jobs.ts';
import { extractionMessages, parseDecisions } from './extraction-prompt.ts';
import type { MemoryChange, Memories } from './memories.ts';
import { messageTokens } from './window-messages.ts';

export const EXTRACT_JOB = 'memory.extract';

/** `at`: when the message was said (ISO), so relative dates resolve from it (absent in jobs queued before it existed) */
type Dialogue = Array<{ role: 'user' | 'assistant'; content: string; at?: string }>;

export interface ExtractPayload {
  agent_id: string;
  user_id: string;
  session_id: string;
  message_id: string;
  user: string;
  assistant: string;
  /** the exchanges to extract from, oldest first (absent in jobs queued before it existed: user + assistant) */
  conversation?: Dialogue;
  /** earlier messages of the recent window, for the model to understand the conversation by */
  context?: Dialogue;
  /** the answer's seq: extraction has read the session up to here once this job ran */
  answer_seq?: number;
  /** with idle_ms: the job waits for quiet; a newer message in the session means a later job covers this one */
  idle?: boolean;
}

/** memory.extract as given: true, false, or the object form (which means on). */
export type ExtractConfig = boolean | { model?: string; every_turns: number; idle_ms: number; window_tokens: number };

export interface ExtractSettings {
  enabled: boolean;
  model?: string;
  every_turns: number;
  idle_ms: number;
  window_tokens: number;
}

export function extractSettings(x: ExtractConfig): ExtractSettings {
  if (typeof x === 'boolean') return { enabled: x, every_turns: 1, idle_ms: 0, window_tokens: 2_000 };
  return { enabled: true, ...x };
}

export interface ExtractionAgent {
  provider: Provider;
  model: string;
  config: { memory: { extract: ExtractConfig } };
}

export interface ExtractionDeps<A extends ExtractionAgent> {
  db: Db;
  memories: Memories;
  /** the user's memories most related to the message (predictive.ts keeps them as the next turn's pool) */
  related(orgId: string, agentId: string, userId: string, query: string, topK: number): Promise<Array<{ id: string; content: string }>>;
  /** after changes commit: prepare the next turn's recall again (see predictive.ts) */
  afterApply?: (orgId: string, agentId: string, userId: string, text: string) => Promise<void>;
  /** the agent as it is now (undefined: deleted, so nothing to do) */
  loadAgent(orgId: string, agentId: string): Promise<A | undefined>;
  /** the agent's provider for another model of its endpoint (memory.extract.model) */
  providerFor(agent: A, model: string): Provider;
}

// How many existing memories the model sees to reconcile against.
const RELATED = 20;

/** The job handler: returns the changes it made (for a stream still waiting to show them). */
export function extractionHandler<A extends ExtractionAgent>(deps: ExtractionDeps<A>) {
  return async (job: Job): Promise<MemoryChange[]> => {
    const p = job.payload as unknown as ExtractPayload;
    const agent = await deps.loadAgent(job.org_id, p.agent_id);
    const x = agent && extractSettings(agent.config.memory.extract);
    if (!agent || !x?.enabled || !p.user_id) return [];
    let conversation: Dialogue = p.conversation ?? [
      { role: 'user', content: p.user },
      { role: 'assistant', content: p.assistant },
    ];
    let context = p.context;
    if (p.idle && p.answer_seq !== undefined) {
      // Waiting for quiet: the session went on, and the job of its newer exchange covers this one.
      if ((await messagesAfter(deps.db, job.org_id, p.session_id, p.answer_seq, 1)).length) return [];
      // Quiet now: everything said since extraction last read the session, in one call.
      const session = await getSession(deps.db, job.org_id, p.session_id);
      if (!session) return [];
      const rows = await lastMessages(deps.db, job.org_id, p.session_id, 200);
      const batch = sinceWindow(
        rows.filter((m) => m.seq <= p.answer_seq! && m.status !== 'streaming'),
        session.extracted_seq ?? 0,
        x.window_tokens,
      );
      if (!batch.conversation.length) return [];
      ({ conversation, context } = batch);
    }
    const source = `extraction:${job.id}`;
    const said = conversation
      .filter((m) => m.role === 'user')
      .map((m) => m.content)
      .join('\n');

    const related = [...(await deps.related(job.org_id, p.agent_id, p.user_id, said.slice(-4_000), RELATED))];
    // A fact can change in other words ("I moved to Munich" shares none with "I live in
    // Berlin"): the user's newest memories fill the rest, so a small scope is seen whole.
    if (related.length < RELATED) {
      const seen = new Set(related.map((m) => m.id));
      for (const m of await deps.memories.list(job.org_id, { agent_id: p.agent_id, user_id: p.user_id }, RELATED, 0))
        if (related.length < RELATED && !seen.has(m.id)) related.push(m);
    }
    // Short ids: models copy "3" more reliably than a UUID.
    const byShort = new Map(related.map((m, i) => [String(i), m.id]));
    const existing = related.map((m, i) => ({ id: String(i), text: m.content }));
    const model = x.model ?? agent.model;
    const provider = model === agent.model ? agent.provider : deps.providerFor(agent, model);
    const answer = await provider.complete({
      model,
      messages: extractionMessages({ existing, ...(context?.length ? { context } : {}), conversation }),
      temperature: 0,
      // A thinking model's reasoning is of no use here: off where the provider has a switch.
      thinking: 'disabled',
    });
    const decisions = parseDecisions(answer.text, new Set(byShort.keys())).map((d) =>
      d.event === 'UPDATE' || d.event === 'DELETE' ? { ...d, id: byShort.get(d.id)! } : d,
    );
    // Relative dates the model left ("tomorrow") resolve from when the user said them.
    const saidAt = conversation.filter((m) => m.role === 'user' && m.at).at(-1)?.at;
    const changes = await deps.memories.apply(
      job.org_id,
      { agent_id: p.agent_id, user_id: p.user_id },
      decisions,
      source,
      { session_id: p.session_id, message_id: p.message_id },
      saidAt ? new Date(saidAt) : new Date(),
    );
    // Only an idle batch reads from where extraction last stopped: without idle_ms, no write
    // per turn for it (switched on later, the first batch reads back at most window_tokens).
    if (p.answer_seq !== undefined && x.idle_ms > 0) await markExtracted(deps.db, job.org_id, p.session_id, p.answer_seq);
    if (changes.length) await deps.afterApply?.(job.org_id, p.agent_id, p.user_id, said);
    return changes;
  };
}

/**
 * What the extraction reads: the newest `turns` exchanges whole (facts come from these),
 * and before them, as context, older messages while all fits `budget` tokens. Oldest first.
 */
export function extractionWindow(messages: Message[], turns: number, budget: number): { conversation: Dialogue; context: Dialogue } {
  const conversation: Dialogue = [];
  const context: Dialogue = [];
  let tokens = 0;
  let users = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if ((m.role !== 'user' && m.role !== 'assistant') || !m.content) continue;
    const inBatch = users < turns;
    if (!inBatch && tokens + messageTokens(m) > budget) break;
    tokens += messageTokens(m);
    (inBatch ? conversation : context).push({
      role: m.role,
      content: m.content,
      ...(inBatch && m.created_at ? { at: new Date(m.created_at).toISOString() } : {}),
    });
    if (m.role === 'user') users++;
  }
  return { conversation: conversation.reverse(), context: context.reverse() };
}

/** Idle batches: the messages after `sinceSeq` to extract from (the newest first, within budget), older ones as context. */
function sinceWindow(messages: Message[], sinceSeq: number, budget: number): { conversation: Dialogue; context: Dialogue } {
  const turns = messages.filter((m) => m.seq > sinceSeq && m.role === 'user').length;
  return extractionWindow(messages, Math.max(1, turns), budget);
}

/**
 * RunDeps.afterTurn: queues extraction for a finished exchange, once per answer (the
 * answer's id is the idempotency key): after every `every_turns`-th exchange of the
 * session at once, otherwise (with `idle_ms`) once the session has been idle that long.
 * With `wait`, resolves with the changes of a job queued at once.
 */
export function extractAfterTurn(jobs: JobQueue, history?: HistoryStore, waitMs = 15_000) {
  return async (
    agent: { id: string; config: { memory: { extract: ExtractConfig } } },
    turn: Exchange,
    answer: string,
    wait: boolean,
  ): Promise<MemoryChange[]> => {
    const x = extractSettings(agent.config.memory.extract);
    // Facts belong to a user: an anonymous chat never writes memories another chat could recall.
    if (!x.enabled || !turn.userId) return [];
    const recent = history?.recent(turn.sessionId);
    const exchanges = recent?.complete ? recent.messages.filter((m) => m.role === 'user').length : undefined;
    // (A session longer than the cache holds is not counted: each exchange is then due.)
    const due = x.every_turns === 1 || exchanges === undefined || exchanges % x.every_turns === 0;
    // With idle_ms every exchange waits for quiet, but the every_turns-th, which runs at once.
    const idle = x.idle_ms > 0 && !(x.every_turns > 1 && due);
    if (!due && !idle) return []; // the next due exchange's extraction covers this one
    const window = recent?.messages.length ? extractionWindow(recent.messages, due ? x.every_turns : exchanges! % x.every_turns, x.window_tokens) : undefined;
    const answerSeq = recent?.messages.at(-1)?.id === turn.assistantMessageId ? recent.messages.at(-1)!.seq : undefined;
    const payload: ExtractPayload = {
      agent_id: agent.id,
      user_id: turn.userId,
      session_id: turn.sessionId,
      message_id: turn.assistantMessageId,
      user: turn.userContent,
      assistant: answer,
      ...(window?.conversation.length ? { conversation: window.conversation } : {}),
      ...(window?.context.length ? { context: window.context } : {}),
      ...(answerSeq !== undefined ? { answer_seq: answerSeq } : {}),
      ...(idle ? { idle: true } : {}),
    };
    const job = await jobs.enqueue({
      org_id: turn.orgId,
      kind: EXTRACT_JOB,
      payload,
      idempotency_key: `extract:${payload.message_id}`,
      delay_ms: idle ? x.idle_ms : 0,
    });
    // A job that waits for the session to go quiet is not awaited by the stream.
    if (!job || !wait || idle) return [];
    const done = await jobs.waitFor(job.id, waitMs);
    return done?.ok ? (done.result as MemoryChange[]) : [];
  };
}
