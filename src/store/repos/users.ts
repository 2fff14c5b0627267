import { one, type Queryable } from '../db.ts';
import { deleteUserDeliveries } from './webhooks.ts';

export interface User {
  id: string;
  org_id: string;
  name: string | null;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export const createUser = (db: Queryable, orgId: string, input: { id: string; name?: string | null; metadata?: object }) =>
  one<User>(
    db,
    `insert into users (org_id, id, name, metadata) values ($1, $2, $3, $4)
     on conflict (org_id, id) do nothing returning *`,
    [orgId, input.id, input.name ?? null, JSON.stringify(input.metadata ?? {})],
  );

export const getUser = (db: Queryable, orgId: string, id: string) => one<User>(db, 'select * from users where org_id = $1 and id = $2', [orgId, id]);

export const listUsers = (db: Queryable, orgId: string, limit: number, offset: number) =>
  db.query<User>('select * from users where org_id = $1 order by created_at, id limit $2 offset $3', [orgId, limit, offset]);

export const updateUser = (db: Queryable, orgId: string, id: string, input: { name?: string | null; metadata?: object }) =>
  one<User>(
    db,
    `update users set name = case when $3 then $4 else name end, metadata = coalesce($5, metadata)
     where org_id = $1 and id = $2 returning *`,
    [orgId, id, input.name !== undefined, input.name ?? null, input.metadata ? JSON.stringify(input.metadata) : null],
  );

/** What forgetting a user deleted, row counts per table. */
export interface DeletedUser {
  user: number;
  sessions: number;
  messages: number;
  memories: number;
  memory_history: number;
  working_memory: number;
  jobs: number;
}

const count = async (db: Queryable, sql: string, params: unknown[]) =>
  (await db.query(`with d as (${sql} returning 1) select count(*)::int as n from d`, params))[0]!.n as number;

/**
 * Deletes the user with their sessions (and messages), memories, every history row of
 * their memories (those deleted earlier too), the jobs and webhook deliveries that carry their text: what
 * "forget me" means. A user need not have a `users` row (chat and memories never create
 * one): whatever is kept under the id is deleted all the same.
 */
export async function deleteUser(db: Queryable, orgId: string, id: string): Promise<DeletedUser> {
  // Working memory of the user, and of the user's sessions.
  const working_memory = await count(
    db,
    `delete from working_memory where org_id = $1 and ((scope = 'user' and owner = $2)
       or (scope = 'session' and owner in (select id::text from sessions where org_id = $1 and user_id = $2)))`,
    [orgId, id],
  );
  const messages = (
    await db.query<{ n: number }>(
      'select count(*)::int as n from messages where org_id = $1 and session_id in (select id from sessions where org_id = $1 and user_id = $2)',
      [orgId, id],
    )
  )[0]!.n;
  const sessions = await count(db, 'delete from sessions where org_id = $1 and user_id = $2', [orgId, id]);
  const memory_history = await count(
    db,
    `delete from memory_history where org_id = $1
       and (user_id = $2 or memory_id in (select id from memories where org_id = $1 and user_id = $2))`,
    [orgId, id],
  );
  const memories = await count(db, 'delete from memories where org_id = $1 and user_id = $2', [orgId, id]);
  // Extraction jobs hold the turn's text; a job still to run would also write memories back.
  const jobs = await count(db, `delete from jobs where org_id = $1 and payload ? 'user_id' and payload->>'user_id' = $2`, [orgId, id]);
  // Webhook deliveries about them carry their text too (delivered or not).
  await deleteUserDeliveries(db, orgId, id);
  const user = await count(db, 'delete from users where org_id = $1 and id = $2', [orgId, id]);
  return { user, sessions, messages, memories, memory_history, working_memory, jobs };
}
