import { one, type Queryable } from '../db.ts';
import type { ToolCall, Usage } from '../../llm/types.ts';
import type { Session } from './sessions.ts';

export type MessageStatus = 'complete' | 'incomplete' | 'streaming';

export interface Message {
  id: string;
  seq: number;
  org_id: string;
  session_id: string;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  tool_calls: ToolCall[] | null;
  tool_call_id: string | null;
  status: MessageStatus;
  finish_reason: string | null;
  usage: Usage | null;
  timings: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  /** o200k tokens of the message as a prompt sends it (text, tool calls and results), counted when stored */
  tokens: number | null;
  /** a thinking model's reasoning, kept for the record (never sent back to the model) */
  reasoning: string | null;
  created_at: Date;
}

const json = (v: unknown) => (v == null ? null : JSON.stringify(v));

/**
 * A written row with `prev_seq`: the seq of the session's newest finished message before it
 * (0: none) as the statement saw it — what an instance holding the session's window must end
 * at to append the row in place (memory/session-deltas.ts). Read in the write's own statement.
 */
export type Written = Message & { prev_seq: number };
const prevSeq = (m: string) =>
  `(select coalesce(max(p.seq), 0) from messages p where p.session_id = ${m}.session_id and p.seq < ${m}.seq and p.status <> 'streaming') as prev_seq`;

/**
 * A turn's first write as one statement: the user's message, the answer's row reserved as
 * 'streaming' (owned by this instance, its heartbeat starting now), and the session when the turn creates it (the foreign key is checked at the
 * statement's end, so one statement can insert both). One round trip instead of a
 * transaction of three or four.
 */
export interface NewExchange {
  org_id: string;
  session_id: string;
  user_message_id: string;
  assistant_message_id: string;
  content: string;
  tokens?: number | null;
  owner?: string | null;
  newSession?: { agent_id: string; user_id: string | null };
}

type ExchangeRow = Written & { new_session: (Omit<Session, 'created_at' | 'updated_at'> & { created_at: string; updated_at: string }) | null };

const begun = ({ new_session, ...userMessage }: ExchangeRow): { userMessage: Written; session?: Session } => ({
  userMessage,
  session: new_session ? { ...new_session, created_at: new Date(new_session.created_at), updated_at: new Date(new_session.updated_at) } : undefined,
});

export async function beginExchange(db: Queryable, t: NewExchange): Promise<{ userMessage: Written; session?: Session }> {
  const rows = await db.query<ExchangeRow>(
    `with s as (
       insert into sessions (id, org_id, agent_id, user_id, metadata) select $2, $1, $6, $7, '{}'::jsonb where $8 returning *
     ), m as (
       insert into messages (id, org_id, session_id, role, content, status, tokens, owner, heartbeat_at)
       values ($3, $1, $2, 'user', $5, 'complete', $9::int, null, null),
              ($4, $1, $2, 'assistant', '', 'streaming', null, $10::text, case when $10::text is null then null else now() end) returning *
     )
     select m.*, (select row_to_json(s) from s) as new_session, ${prevSeq('m')} from m where m.role = 'user'`,
    [
      t.org_id,
      t.session_id,
      t.user_message_id,
      t.assistant_message_id,
      t.content,
      t.newSession?.agent_id ?? null,
      t.newSession?.user_id ?? null,
      t.newSession !== undefined,
      t.tokens ?? null,
      t.owner ?? null,
    ],
  );
  return begun(rows[0]!);
}

/**
 * Several turns' first writes as one statement (group-commit.ts), at most one turn per
 * session: all the user messages are inserted before all the answers, so each answer's
 * seq follows its question's. The results in the turns' order.
 */
export async function beginExchanges(db: Queryable, ts: NewExchange[]): Promise<Array<{ userMessage: Written; session?: Session }>> {
  const rows = await db.query<ExchangeRow>(
    `with t as (
       select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::bool[], $9::int[], $10::text[])
         as t(org_id, session_id, user_message_id, assistant_message_id, content, agent_id, user_id, new_session, tokens, owner)
     ), s as (
       insert into sessions (id, org_id, agent_id, user_id, metadata) select session_id, org_id, agent_id, user_id, '{}'::jsonb from t where new_session returning *
     ), m as (
       insert into messages (id, org_id, session_id, role, content, status, tokens, owner, heartbeat_at)
       select * from (
         select user_message_id, org_id, session_id, 'user', content, 'complete', tokens, null::text, null::timestamptz from t
         union all
         select assistant_message_id, org_id, session_id, 'assistant', '', 'streaming', null::int, owner, case when owner is null then null else now() end from t
       ) rows
       returning *
     )
     select m.*, (select row_to_json(s) from s where s.id = m.session_id) as new_session, ${prevSeq('m')} from m where m.role = 'user'`,
    [
      ts.map((t) => t.org_id),
      ts.map((t) => t.session_id),
      ts.map((t) => t.user_message_id),
      ts.map((t) => t.assistant_message_id),
      ts.map((t) => t.content),
      ts.map((t) => t.newSession?.agent_id ?? null),
      ts.map((t) => t.newSession?.user_id ?? null),
      ts.map((t) => t.newSession !== undefined),
      ts.map((t) => t.tokens ?? null),
      ts.map((t) => t.owner ?? null),
    ],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ts.map((t) => begun(byId.get(t.user_message_id)!));
}

/** The last `limit` messages of a session, oldest first. */
export const lastMessages = async (db: Queryable, orgId: string, sessionId: string, limit: number) =>
  (await db.query<Message>('select * from messages where org_id = $1 and session_id = $2 order by seq desc limit $3', [orgId, sessionId, limit])).reverse();

export const listMessages = (db: Queryable, orgId: string, sessionId: string, limit: number, offset: number) =>
  db.query<Message>('select * from messages where org_id = $1 and session_id = $2 order by seq limit $3 offset $4', [orgId, sessionId, limit, offset]);

export interface FinishedMessage {
  id: string;
  content: string;
  status: MessageStatus;
  finish_reason?: string | null;
  usage?: Usage | null;
  timings?: object | null;
  error?: object | null;
  tool_calls?: ToolCall[] | null;
  reasoning?: string | null;
  tokens?: number | null;
}

/** Finishes an assistant message that was inserted as 'streaming' when the turn began. */
export const finishMessage = (db: Queryable, m: FinishedMessage) =>
  one<Written>(
    db,
    `update messages set content = $2, status = $3, finish_reason = $4, usage = $5, timings = $6, error = $7, tool_calls = $8, reasoning = $9, tokens = $10
     where id = $1 returning *, ${prevSeq('messages')}`,
    [
      m.id,
      m.content,
      m.status,
      m.finish_reason ?? null,
      json(m.usage),
      json(m.timings),
      json(m.error),
      json(m.tool_calls),
      m.reasoning ?? null,
      m.tokens ?? null,
    ],
  );

/** Several answers finished as one statement (group-commit.ts): the rows in the messages' order. */
export async function finishMessages(db: Queryable, ms: FinishedMessage[]): Promise<Array<Written | undefined>> {
  const rows = await db.query<Written>(
    `update messages m set content = t.content, status = t.status, finish_reason = t.finish_reason, usage = t.usage::jsonb, timings = t.timings::jsonb,
       error = t.error::jsonb, tool_calls = t.tool_calls::jsonb, reasoning = t.reasoning, tokens = t.tokens
     from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[])
       as t(id, content, status, finish_reason, usage, timings, error, tool_calls, reasoning, tokens)
     where m.id = t.id returning m.*, ${prevSeq('m')}`,
    [
      ms.map((m) => m.id),
      ms.map((m) => m.content),
      ms.map((m) => m.status),
      ms.map((m) => m.finish_reason ?? null),
      ms.map((m) => json(m.usage)),
      ms.map((m) => json(m.timings)),
      ms.map((m) => json(m.error)),
      ms.map((m) => json(m.tool_calls)),
      ms.map((m) => m.reasoning ?? null),
      ms.map((m) => m.tokens ?? null),
    ],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ms.map((m) => byId.get(m.id));
}

/** What an answer has said so far, while it streams: survives a crash. Never touches a finished answer. Renews its heartbeat. Did a streaming row take it? */
export const checkpointMessage = async (db: Queryable, id: string, content: string) =>
  (await db.query(`update messages set content = $2, heartbeat_at = now() where id = $1 and status = 'streaming' returning id`, [id, content])).length > 0;

/**
 * Appends what an answer said since its last checkpoint, if the stored copy is `bytes`
 * long (UTF-8): a checkpoint sends what is new, not the whole answer again every second.
 * False when no streaming row holds that many bytes (it ended, or a write was lost).
 */
export const appendCheckpoint = async (db: Queryable, id: string, bytes: number, added: string) =>
  (
    await db.query(
      `update messages set content = content || $3, heartbeat_at = now() where id = $1 and status = 'streaming' and octet_length(content) = $2 returning id`,
      [id, bytes, added],
    )
  ).length > 0;

/** The owner's heartbeat for all its streaming answers at once (one statement per beat, however many streams). */
export const renewStreaming = async (db: Queryable, owner: string) =>
  (await db.query(`update messages set heartbeat_at = now() where owner = $1 and status = 'streaming' returning id`, [owner])).length;

const interrupted = `'{"code":"interrupted","message":"The server stopped while streaming."}'::jsonb`;

/**
 * Answers still streaming whose owner's heartbeat is older than `leaseMs` (the instance
 * died): what was said so far, incomplete. `leaseMs` undefined: every streaming row
 * (an embedded store has one process, so any streaming row is a dead one's).
 */
export const markStreamingIncomplete = async (db: Queryable, leaseMs?: number) =>
  (
    await db.query(
      leaseMs === undefined
        ? `update messages set status = 'incomplete', error = coalesce(error, ${interrupted}) where status = 'streaming' returning id`
        : `update messages set status = 'incomplete', error = coalesce(error, ${interrupted})
           where status = 'streaming' and (heartbeat_at is null or heartbeat_at < now() - make_interval(secs => $1::float8 / 1000)) returning id`,
      leaseMs === undefined ? [] : [leaseMs],
    )
  ).length;

/** A session's finished messages after seq `afterSeq` (0: all), oldest first, at most `limit`. */
export const messagesAfter = (db: Queryable, orgId: string, sessionId: string, afterSeq: number, limit: number) =>
  db.query<Message>(`select * from messages where org_id = $1 and session_id = $2 and seq > $3 and status <> 'streaming' order by seq limit $4`, [
    orgId,
    sessionId,
    afterSeq,
    limit,
  ]);

export const setTokens = (db: Queryable, id: string, tokens: number) => db.query('update messages set tokens = $2 where id = $1', [id, tokens]);
