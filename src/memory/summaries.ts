// Rolling summaries of long sessions (memory.summary). After a turn, when the session's
// unsummarized history passes `trigger_tokens`, a durable job asks the agent's model (or
// memory.summary.model) to fold the oldest part into the session's summary; prompts then
// carry the summary and the messages after it. The job never runs while a request awaits
// its first token (the job queue's gate), and a retried or duplicate job changes nothing:
// a summary is stored only when it covers more than the stored one. The summary changes
// at the history window's chunk points (agent/context-window.ts), so that the prompt's
// prefix stays put between them: when the window will be full by the next turn, the
// summary folds it down to its low-water mark now (the next prompt then starts after the
// summary, one change instead of two); what the window dropped without it is summarized at once.
import type { Provider } from '../llm/types.ts';
import { contextWindowOf } from '../llm/token-count.ts';
import type { Db } from '../store/db.ts';
import type { Job } from '../store/repos/jobs.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import { messagesAfter, type Message } from '../store/repos/messages.ts';
import { getSession, setSummary, type Session } from '../store/repos/sessions.ts';
import type { Exchange, HistoryStore } from './history.ts';
import type { JobQueue } from './jobs.ts';
import { SUMMARY_MAX_TOKENS, summaryMessages } from './summary-prompt.ts';
import { messageTokens } from './window-messages.ts';

export const SUMMARY_JOB = 'session.summarize';

export interface SummaryConfig {
  enabled: boolean;
  trigger_tokens: number;
  model?: string;
}

export interface SummaryAgent {
  id: string;
  provider: Provider;
  model: string;
  config: { llm: { max_context_tokens?: number }; memory: { summary: SummaryConfig } };
}

export interface SummaryDeps<A extends SummaryAgent> {
  db: Db;
  history: HistoryStore;
  loadAgent(orgId: string, agentId: string): Promise<A | undefined>;
  /** the agent's provider for another model of the same endpoint (memory.summary.model) */
  providerFor(agent: A, model: string): Provider;
}

interface Payload {
  agent_id: string;
  session_id: string;
  /** the history window is full by the next turn: fold all but its low-water mark (Exchange.windowFull) */
  keep_messages?: number;
  keep_tokens?: number;
}

/** What a summary leaves unsummarized: the newest messages within both. */
export interface Keep {
  tokens: number;
  messages?: number;
}

// Sessions longer than this are summarized in several jobs, oldest part first.
const MAX_ROWS = 2_000;

/**
 * Which of the unsummarized messages to fold in: the oldest ones, keeping the newest
 * within `keep` as they are, ending after an answer when one is there, and no more than
 * `maxTokens` in one request.
 */
export function partToSummarize(rows: Message[], keep: Keep, maxTokens: number): Message[] {
  let recent = 0;
  let cut = rows.length;
  const keepMessages = keep.messages ?? Infinity;
  while (cut > 0 && rows.length - cut < keepMessages && recent + messageTokens(rows[cut - 1]!) <= keep.tokens) recent += messageTokens(rows[--cut]!);
  let size = 0;
  let end = 0;
  while (end < cut && size + messageTokens(rows[end]!) <= maxTokens) size += messageTokens(rows[end++]!);
  if (end === 0 && cut > 0) end = 1; // one message larger than a request: summarized alone (the model reads what fits)
  while (end > 1 && rows[end - 1]!.role !== 'assistant') end--;
  return rows.slice(0, end);
}

export function summaryHandler<A extends SummaryAgent>(deps: SummaryDeps<A>) {
  return async (job: Job): Promise<{ through: string } | null> => {
    const p = job.payload as unknown as Payload;
    const agent = await deps.loadAgent(job.org_id, p.agent_id);
    const cfg = agent?.config.memory.summary;
    if (!agent || !cfg?.enabled) return null;
    const session = await getSession(deps.db, job.org_id, p.session_id);
    if (!session) return null;
    const rows = (await messagesAfter(deps.db, job.org_id, session.id, session.summarized_seq ?? 0, MAX_ROWS)).filter(
      (m) => m.role === 'user' || m.role === 'assistant',
    );
    // What the history window dropped (it gives way in chunks, agent/context-window.ts) is
    // summarized at once, so the summary changes at the window's chunk points.
    // (a start past the newest message is from before a restore, where messages got new seqs: not a start)
    const start = session.window_seq && (rows.length === MAX_ROWS || session.window_seq <= (rows.at(-1)?.seq ?? 0) + 1) ? session.window_seq : 0;
    const dropped = rows.filter((m) => m.seq < start);
    const full = p.keep_tokens !== undefined;
    const total = rows.reduce((n, m) => n + messageTokens(m), 0);
    if (total <= cfg.trigger_tokens && !dropped.length && !full) return null;

    const model = cfg.model ?? agent.model;
    const window = cfg.model ? contextWindowOf(model) : (agent.config.llm.max_context_tokens ?? contextWindowOf(model));
    const maxTokens = Math.max(256, window - SUMMARY_MAX_TOKENS - 1_500);
    const part = full
      ? partToSummarize(rows, { tokens: p.keep_tokens!, messages: p.keep_messages }, maxTokens)
      : dropped.length
        ? partToSummarize(dropped, { tokens: 0 }, maxTokens)
        : partToSummarize(rows, { tokens: cfg.trigger_tokens / 2 }, maxTokens);
    const last = part.at(-1);
    if (!last) return null;
    const provider = model === agent.model ? agent.provider : deps.providerFor(agent, model);
    const answer = await provider.complete({
      model,
      messages: summaryMessages({
        previous: session.summary,
        conversation: part.filter((m) => m.content).map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content })),
      }),
      temperature: 0,
      max_tokens: SUMMARY_MAX_TOKENS,
    });
    const text = answer.text.trim();
    if (!text) throw new Error('the model answered an empty summary');
    // Stored only when it covers more than the stored one: a retried job emits no second event.
    const updated = await deps.db.transaction(async (tx) => {
      const row = await setSummary(tx, job.org_id, session.id, { summary: text, through: last.id, throughSeq: last.seq });
      if (row)
        await emitEvents(tx, job.org_id, [
          {
            type: 'session.summarized',
            user_id: row.user_id,
            data: { session_id: row.id, agent_id: row.agent_id, user_id: row.user_id, summary: text, summarized_through: last.id },
          },
        ]);
      return row;
    });
    if (updated) deps.history.updateSession(updated);
    return { through: last.id };
  };
}

/**
 * After a finished turn: queues a summary when the session's unsummarized history (as
 * this instance holds it) passes the trigger. One job per summary state: the key names
 * the message the current summary ends at.
 */
export function summarizeAfterTurn(jobs: JobQueue, history: HistoryStore) {
  return async (agent: { id: string; config: { memory: { summary: SummaryConfig } } }, turn: Exchange, session?: Session): Promise<void> => {
    const cfg = agent.config.memory.summary;
    if (!cfg.enabled) return;
    const tokens = history.unsummarizedTokens(turn.sessionId);
    // the window's start when it dropped messages the summary does not cover yet
    const dropped = history.unsummarizedDrop(turn.sessionId);
    const full = turn.windowFull;
    if (!full && dropped === undefined && (tokens === undefined || tokens <= cfg.trigger_tokens)) return;
    const through = history.summarizedThrough(turn.sessionId) ?? session?.summarized_through ?? 'start';
    await jobs.enqueue({
      org_id: turn.orgId,
      kind: SUMMARY_JOB,
      payload: { agent_id: agent.id, session_id: turn.sessionId, ...(full && { keep_messages: full.keepMessages, keep_tokens: full.keepTokens }) },
      idempotency_key: `summary:${turn.sessionId}:${through}${full ? ':full' : dropped === undefined ? '' : `:w${dropped}`}`,
    });
  };
}
