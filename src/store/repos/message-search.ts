// What episodic recall reads of the conversation: a scope's messages (through their
// sessions), a session's neighbours of a message, and the bulk insert of an imported
// conversation (original timestamps kept). Plain SQL, the same on both engines.
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../db.ts';
import { loopTurn, writeChunks } from '../write-chunks.ts';
import { SqlParams } from './sql-params.ts';

export interface MessageDoc {
  id: string;
  agent_id: string | null;
  user_id: string | null;
  session_id: string;
  seq: number;
  role: string;
  content: string;
  metadata: Record<string, unknown>;
  created_at: Date;
}

const columns = `m.id, s.agent_id, s.user_id, m.session_id, m.seq::float8 as seq, m.role, m.content, coalesce(m.metadata, '{}'::jsonb) as metadata, m.created_at`;

/**
 * The finished user and assistant messages of a scope (agentId/userId undefined: any; null:
 * none), in session order. `=` and `is null` (not `is not distinct from`), so the sessions'
 * indexes find the scope's sessions and messages_session their messages.
 */
export function loadMessageDocs(db: Queryable, orgId: string, scope: { agentId?: string | null; userId?: string | null } = {}) {
  const params = new SqlParams(orgId);
  let where = 's.org_id = $1';
  if (scope.agentId === null) where += ' and s.agent_id is null';
  else if (scope.agentId !== undefined) where += ` and s.agent_id = ${params.add(scope.agentId)}`;
  if (scope.userId === null) where += ' and s.user_id is null';
  else if (scope.userId !== undefined) where += ` and s.user_id = ${params.add(scope.userId)}`;
  return db.query<MessageDoc>(
    `select ${columns} from messages m join sessions s on s.id = m.session_id
     where ${where} and m.role in ('user', 'assistant') and m.status <> 'streaming' and m.content <> ''
     order by m.session_id, m.seq`,
    params.values,
  );
}

/** The ids of a scope's messages that pass a restriction (filters.ts over m.metadata / m.created_at). */
export async function restrictedMessageIds(
  db: Queryable,
  orgId: string,
  agentId: string,
  userId: string | null,
  restriction: (params: SqlParams) => string,
  cap: number,
) {
  const params = new SqlParams(orgId, agentId);
  const user = userId === null ? 's.user_id is null' : `s.user_id = ${params.add(userId)}`;
  const cond = restriction(params);
  const rows = await db.query<{ id: string }>(
    `select m.id from messages m join sessions s on s.id = m.session_id
     where s.org_id = $1 and s.agent_id = $2 and ${user} and ${cond} limit ${params.add(cap)}`,
    params.values,
  );
  return new Set(rows.map((r) => r.id));
}

/** The scope (agent, user) of a session, for an invalidation that names only the session. */
export const sessionScope = async (db: Queryable, sessionId: string) =>
  (
    await db.query<{ org_id: string; agent_id: string; user_id: string | null }>('select org_id, agent_id, user_id from sessions where id = $1', [sessionId])
  )[0];

export interface ImportedMessage {
  role: 'user' | 'assistant' | 'system';
  content: string;
  created_at: Date;
  metadata?: Record<string, unknown>;
}

/**
 * A new session holding `messages` in time order (seq follows created_at); returns the session id.
 * Written in bounded pieces, each its own statement (write-chunks.ts), not one transaction: a
 * long import never holds the store's connection. It stays all or nothing: a failing piece
 * deletes the session, and with it the pieces before (messages cascade).
 */
export async function importSession(
  db: Db,
  s: { org_id: string; agent_id: string; user_id: string | null; title?: string | null; metadata?: object },
  messages: ImportedMessage[],
  /** runs in the transaction of the last piece: the import is complete exactly when it commits */
  finish?: (tx: Queryable, sessionId: string) => Promise<void>,
): Promise<{ sessionId: string; ids: string[]; seqs: Map<string, number> }> {
  const sessionId = randomUUID();
  const first = messages[0]?.created_at ?? new Date();
  const last = messages.at(-1)?.created_at ?? first;
  await db.query(`insert into sessions (id, org_id, agent_id, user_id, title, metadata, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8)`, [
    sessionId,
    s.org_id,
    s.agent_id,
    s.user_id,
    s.title ?? null,
    JSON.stringify(s.metadata ?? {}),
    first.toISOString(),
    last.toISOString(),
  ]);
  const rows = messages.map((m) => ({ ...m, id: randomUUID() }));
  const seqs = new Map<string, number>();
  const insertPiece = async (q: Queryable, chunk: typeof rows) => {
    // ordinality keeps the input order for seq (an identity, assigned in insert order)
    const inserted = await q.query<{ id: string; seq: number }>(
      `insert into messages (id, org_id, session_id, role, content, metadata, created_at)
         select id, $1, $2, role, content, metadata, created_at
         from unnest($3::uuid[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[]) with ordinality as t(id, role, content, metadata, created_at, n)
         order by n
         returning id, seq::float8 as seq`,
      [
        s.org_id,
        sessionId,
        chunk.map((m) => m.id),
        chunk.map((m) => m.role),
        chunk.map((m) => m.content),
        chunk.map((m) => JSON.stringify(m.metadata ?? {})),
        chunk.map((m) => m.created_at.toISOString()),
      ],
    );
    for (const r of inserted) seqs.set(r.id, r.seq);
  };
  try {
    const pieces = [...writeChunks(rows, (m) => m.content.length)];
    const final = pieces.pop() ?? [];
    for (const chunk of pieces) {
      await insertPiece(db, chunk);
      await loopTurn();
    }
    await db.transaction(async (tx) => {
      if (final.length) await insertPiece(tx, final);
      await finish?.(tx, sessionId);
    });
  } catch (err) {
    await db.query('delete from sessions where id = $1', [sessionId]).catch(() => {});
    throw err;
  }
  return { sessionId, ids: rows.map((m) => m.id), seqs };
}
