import type { Queryable } from '../db.ts';

/** Deletes up to `limit` memory_history rows older than `olderThanMs`; returns how many. */
export const purgeMemoryHistory = async (db: Queryable, olderThanMs: number, limit: number) =>
  (
    await db.query(
      `delete from memory_history where id in (
         select id from memory_history where created_at < now() - make_interval(secs => $1::float8 / 1000)
         limit $2 for update skip locked)
       returning 1`,
      [olderThanMs, limit],
    )
  ).length;
