import { randomUUID } from 'node:crypto';
import { one, type Queryable } from '../db.ts';

export interface Session {
  id: string;
  org_id: string;
  agent_id: string;
  user_id: string | null;
  title: string | null;
  metadata: Record<string, unknown>;
  /** the rolling summary of the session's oldest part (memory.summary), through `summarized_through` */
  summary: string | null;
  summarized_through: string | null;
  summarized_seq: number | null;
  /** the first message the history window keeps (agent/context-window.ts: it gives way in chunks); null: all */
  window_seq: number | null;
  /** the last message memory extraction has read */
  extracted_seq: number | null;
  created_at: Date;
  updated_at: Date;
}

export const createSession = (
  db: Queryable,
  s: { id?: string; org_id: string; agent_id: string; user_id?: string | null; title?: string | null; metadata?: object },
) =>
  one<Session>(db, `insert into sessions (id, org_id, agent_id, user_id, title, metadata) values ($1, $2, $3, $4, $5, $6) returning *`, [
    s.id ?? randomUUID(),
    s.org_id,
    s.agent_id,
    s.user_id ?? null,
    s.title ?? null,
    JSON.stringify(s.metadata ?? {}),
  ]) as Promise<Session>;

export const getSession = (db: Queryable, orgId: string, id: string) => one<Session>(db, 'select * from sessions where org_id = $1 and id = $2', [orgId, id]);

/** What a kept copy of a session is compared with: the row's moving parts and its newest finished message. */
export interface SessionMark {
  org_id: string;
  /** the seq of its newest finished message (0: none) */
  newest: number;
  window_seq: number | null;
  summarized_seq: number | null;
}

/** The marks of these sessions that the store still has, by id (one primary-key probe and one index step each). */
export async function sessionMarks(db: Queryable, ids: string[]): Promise<Map<string, SessionMark>> {
  const rows = await db.query<SessionMark & { id: string }>(
    `select s.id, s.org_id, s.window_seq, s.summarized_seq,
       (select coalesce(max(m.seq), 0) from messages m where m.session_id = s.id and m.status <> 'streaming') as newest
     from sessions s where s.id = any($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map(({ id, ...mark }) => [id, { ...mark, newest: Number(mark.newest) }]));
}

export const listSessions = (db: Queryable, orgId: string, agentId: string, userId: string | undefined, limit: number, offset: number) =>
  db.query<Session>(
    `select * from sessions where org_id = $1 and agent_id = $2 and ($3::text is null or user_id = $3)
     order by updated_at desc, id limit $4 offset $5`,
    [orgId, agentId, userId ?? null, limit, offset],
  );

export const deleteSession = async (db: Queryable, orgId: string, id: string) =>
  (await db.query('delete from sessions where org_id = $1 and id = $2 returning id', [orgId, id])).length > 0;

/**
 * Stores a summary through message `throughSeq`; a summary that covers no more than the
 * stored one changes nothing (a retried job, or one that lost a race). The session, or undefined.
 */
export const setSummary = (db: Queryable, orgId: string, id: string, s: { summary: string; through: string; throughSeq: number }) =>
  one<Session>(
    db,
    `update sessions set summary = $3, summarized_through = $4, summarized_seq = $5, updated_at = now()
     where org_id = $1 and id = $2 and coalesce(summarized_seq, 0) < $5 returning *`,
    [orgId, id, s.summary, s.through, s.throughSeq],
  );

/**
 * The history window now starts at message `seq` (never moves back, but for a start past
 * `newest`, the newest message's seq: one from before the org was restored from a dump,
 * where messages got new seqs). The session, or undefined.
 */
export const setWindowStart = (db: Queryable, orgId: string, id: string, seq: number, newest: number) =>
  one<Session>(
    db,
    `update sessions set window_seq = case when window_seq > $4 + 1 then $3 else greatest(coalesce(window_seq, 0), $3) end
     where org_id = $1 and id = $2 returning *`,
    [orgId, id, seq, newest],
  );

/** Memory extraction has read the session up to message `seq` (never moves back). */
export const markExtracted = (db: Queryable, orgId: string, id: string, seq: number) =>
  db.query(`update sessions set extracted_seq = greatest(coalesce(extracted_seq, 0), $3) where org_id = $1 and id = $2`, [orgId, id, seq]);
