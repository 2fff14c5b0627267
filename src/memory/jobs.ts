// Durable background work (memory extraction). Jobs live in the jobs table, so they
// survive a restart; a worker claims one at a time with a lock that expires if it
// dies; failures retry with exponential backoff. Jobs never start while a chat
// request is still waiting for its first token (see `FirstTokenGate`).
import { EventEmitter } from 'node:events';
import type { Db, Queryable } from '../store/db.ts';
import * as repo from '../store/repos/jobs.ts';
import type { Job } from '../store/repos/jobs.ts';

export type JobHandler = (job: Job) => Promise<unknown>;

// A finished job is marked done in groups, at most this much later: nothing waits on the
// mark (waitFor hears the result in process), so one statement marks every job that ended
// meanwhile instead of one statement each (one a turn, with extraction on). A crash in
// between leaves the job 'running' until its lock expires, and it runs once more, as after a
// crash during the job itself: extraction reconciles with the memories it already wrote.
// A job whose lock runs out before then is marked at once (a worker would claim it again).
// A second, not 50 ms: one chat at a time (turns ~40 ms apart with extraction) then shares
// one mark among ~20 turns instead of ~1, and the lock (30 s) leaves ample room.
const DONE_DELAY_MS = 1_000;
const DONE_BATCH = 256;

/** Counts requests that have not yet sent their first token; background work waits for zero. */
export function createFirstTokenGate() {
  let waiting = 0;
  // One promise per busy spell, shared by every caller: after each answer something waits
  // here, and a listener each would pile up (MaxListenersExceededWarning) while a slow
  // upstream keeps a request before its first token.
  let idle: { promise: Promise<void>; resolve: () => void } | undefined;
  return {
    enter() {
      waiting++;
    },
    leave() {
      if (--waiting === 0 && idle) {
        idle.resolve();
        idle = undefined;
      }
    },
    get waiting() {
      return waiting;
    },
    /** Resolves when no request is before its first token. */
    quiet(): Promise<void> {
      if (waiting === 0) return Promise.resolve();
      if (!idle) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        idle = { promise, resolve };
      }
      return idle.promise;
    },
  };
}

export type FirstTokenGate = ReturnType<typeof createFirstTokenGate>;

export interface JobQueueOptions {
  handlers: Record<string, JobHandler>;
  gate: FirstTokenGate;
  /** how long a claimed job stays locked to its worker */
  lockMs?: number;
  pollMs?: number;
  maxAttempts?: number;
  baseBackoffMs?: number;
  onError?: (err: unknown, job?: Job) => void;
}

export function createJobQueue(db: Db, opts: JobQueueOptions) {
  const lockMs = opts.lockMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1_000;
  const maxAttempts = opts.maxAttempts ?? 5;
  const baseBackoffMs = opts.baseBackoffMs ?? 1_000;
  const finished = new EventEmitter();
  finished.setMaxListeners(0);
  let running = false;
  /** ends the worker's wait; `fromTable`: the new job is in the table only (not local) */
  let wake: ((fromTable: boolean) => void) | undefined;
  let loop: Promise<void> | undefined;
  // Jobs this instance queued, claimed as they were inserted: run without a claim statement.
  const local: Job[] = [];
  // Finished jobs not yet marked done (DONE_DELAY_MS).
  let doneIds: string[] = [];
  let doneTimer: NodeJS.Timeout | undefined;
  const markDone = async () => {
    clearTimeout(doneTimer);
    doneTimer = undefined;
    const ids = doneIds;
    doneIds = [];
    if (ids.length) await repo.completeJobs(db, ids).catch((err) => opts.onError?.(err));
  };
  const completed = async (job: Job) => {
    if (!job.locked_until || job.locked_until.getTime() - Date.now() < 4 * DONE_DELAY_MS) return void (await repo.completeJobs(db, [job.id]));
    doneIds.push(job.id);
    // markDone never rejects (a failed write goes to onError): nothing waits for it.
    if (doneIds.length >= DONE_BATCH) void markDone();
    else doneTimer ??= setTimeout(() => void markDone(), DONE_DELAY_MS).unref();
  };

  /** The next job: a local one whose lock still has room, else (when `poll`) one claimed from the table. */
  async function next(poll: boolean): Promise<Job | undefined> {
    while (local.length) {
      const job = local.shift()!;
      // One that waited out most of its lock (a long busy spell) is left to the claim path.
      if (job.locked_until && job.locked_until.getTime() - Date.now() > lockMs / 2) return job;
    }
    return poll ? repo.claimJob(db, lockMs) : undefined;
  }

  async function runOne(poll: boolean): Promise<boolean> {
    await opts.gate.quiet();
    const job = await next(poll);
    if (!job) return false;
    const handler = opts.handlers[job.kind];
    try {
      if (!handler) throw new Error(`no handler for job kind "${job.kind}"`);
      const result = await handler(job);
      await completed(job);
      finished.emit(job.id, { ok: true, result });
    } catch (err) {
      opts.onError?.(err, job);
      const retry = job.attempts < maxAttempts ? baseBackoffMs * 2 ** (job.attempts - 1) : null;
      await repo.failJob(db, job.id, err instanceof Error ? err.message : String(err), retry);
      if (retry === null) finished.emit(job.id, { ok: false, error: err });
    }
    return true;
  }

  async function work() {
    // The table is read at start, after each poll interval and while it yields jobs; a job
    // this instance queued is run at once without sending the loop to the table.
    let poll = true;
    while (running) {
      let didWork = false;
      try {
        didWork = await runOne(poll);
      } catch (err) {
        opts.onError?.(err);
      }
      if (didWork || !running) continue;
      if (local.length) continue; // queued while this pass read the table: its wake came too early
      poll = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(true), pollMs);
        wake = (fromTable) => {
          clearTimeout(t);
          resolve(fromTable);
        };
      });
      wake = undefined;
    }
  }

  return {
    /** Stores a job (once per idempotency key) and wakes the worker. */
    /** `delay_ms`: not before then (e.g. extraction waiting for a session to go idle). */
    async enqueue(job: { org_id: string; kind: string; payload: object; idempotency_key?: string; delay_ms?: number }, q: Queryable = db) {
      // Inside a caller's transaction the row may yet roll back, and a delayed job is not
      // due yet: both are left to the claim path.
      if (q !== db || !running || job.delay_ms) {
        const row = await repo.insertJob(q, job);
        wake?.(true);
        return row;
      }
      const row = await repo.insertClaimedJob(db, job, lockMs);
      if (row) {
        local.push(row);
        wake?.(false);
      }
      return row;
    },
    /** Resolves with the handler's result when job `id` finishes here (or undefined after `ms`). */
    waitFor(id: string, ms: number): Promise<{ ok: boolean; result?: unknown } | undefined> {
      return new Promise((resolve) => {
        const done = (r: { ok: boolean; result?: unknown }) => {
          clearTimeout(t);
          resolve(r);
        };
        const t = setTimeout(() => {
          finished.off(id, done);
          resolve(undefined);
        }, ms);
        finished.once(id, done);
      });
    },
    start() {
      if (running) return;
      running = true;
      loop = work();
    },
    async stop() {
      running = false;
      wake?.(false);
      await loop;
      await markDone();
    },
  };
}

export type JobQueue = ReturnType<typeof createJobQueue>;
