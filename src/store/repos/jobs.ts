import { randomUUID } from 'node:crypto';
import { one, type Queryable } from '../db.ts';

export interface Job {
  id: string;
  org_id: string;
  kind: string;
  payload: Record<string, unknown>;
  idempotency_key: string | null;
  status: 'pending' | 'running' | 'done' | 'failed';
  attempts: number;
  run_at: Date;
  locked_until: Date | null;
  last_error: string | null;
}

/** Inserts a job once per idempotency key; returns it, or undefined if it already existed. */
export const insertJob = (db: Queryable, j: { org_id: string; kind: string; payload: object; idempotency_key?: string; delay_ms?: number }) =>
  one<Job>(
    db,
    `insert into jobs (id, org_id, kind, payload, idempotency_key, run_at)
     values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::float8 / 1000))
     on conflict (idempotency_key) do nothing returning *`,
    [randomUUID(), j.org_id, j.kind, JSON.stringify(j.payload), j.idempotency_key ?? null, j.delay_ms ?? 0],
  );

/**
 * Inserts a job already claimed by the caller (running, first attempt, locked for `lockMs`),
 * so the instance that queued it runs it without a claim; if it dies, the lock expires and
 * any instance claims it. Undefined if the idempotency key existed.
 */
export const insertClaimedJob = (db: Queryable, j: { org_id: string; kind: string; payload: object; idempotency_key?: string }, lockMs: number) =>
  one<Job>(
    db,
    `insert into jobs (id, org_id, kind, payload, idempotency_key, status, attempts, locked_until)
     values ($1, $2, $3, $4, $5, 'running', 1, now() + make_interval(secs => $6::float8 / 1000))
     on conflict (idempotency_key) do nothing returning *`,
    [randomUUID(), j.org_id, j.kind, JSON.stringify(j.payload), j.idempotency_key ?? null, lockMs],
  );

/** Claims the next due job: pending and due, or running with a lock that expired (its worker died). */
export const claimJob = (db: Queryable, lockMs: number) =>
  one<Job>(
    db,
    `update jobs set status = 'running', attempts = attempts + 1, updated_at = now(),
       locked_until = now() + make_interval(secs => $1::float8 / 1000)
     where id = (
       select id from jobs
       where (status = 'pending' and run_at <= now()) or (status = 'running' and locked_until < now())
       order by run_at limit 1 for update skip locked)
     returning *`,
    [lockMs],
  );

/** Marks jobs done, any number in one statement. */
export const completeJobs = (db: Queryable, ids: string[]) =>
  db.query(`update jobs set status = 'done', locked_until = null, last_error = null, updated_at = now() where id = any($1::uuid[])`, [ids]);

export const failJob = (db: Queryable, id: string, error: string, retryInMs: number | null) =>
  db.query(
    `update jobs set status = $2, locked_until = null, last_error = $3, updated_at = now(),
       run_at = case when $4::float8 is null then run_at else now() + make_interval(secs => $4::float8 / 1000) end
     where id = $1`,
    [id, retryInMs === null ? 'failed' : 'pending', error.slice(0, 2_000), retryInMs],
  );

/** Deletes up to `limit` jobs that ended (done, or failed for good) more than `olderThanMs` ago; returns how many. */
export const purgeFinishedJobs = async (db: Queryable, olderThanMs: number, limit: number) =>
  (
    await db.query(
      `delete from jobs where id in (
         select id from jobs where status in ('done', 'failed') and updated_at < now() - make_interval(secs => $1::float8 / 1000)
         limit $2 for update skip locked)
       returning 1`,
      [olderThanMs, limit],
    )
  ).length;
