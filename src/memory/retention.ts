// What the store keeps only for a while is deleted on a schedule of its own, whatever the job
// workers are doing: finished jobs (their payloads hold conversation text) after
// AGENTMEM_JOB_RETENTION_MS, memory_history rows after AGENTMEM_MEMORY_HISTORY_RETENTION_DAYS
// (0: kept forever). Each statement deletes at most `batch` rows (AGENTMEM_PURGE_BATCH), so
// none holds its locks or the embedded engine for long, and the event loop turns between them.
// Every instance runs it; `skip locked` lets two purges share the work instead of waiting.
import type { Db } from '../store/db.ts';
import { purgeFinishedJobs } from '../store/repos/jobs.ts';
import { purgeMemoryHistory } from '../store/repos/memory-history-retention.ts';
import { loopTurn } from '../store/write-chunks.ts';

export interface RetentionOptions {
  jobRetentionMs: number;
  /** 0: memory_history is kept forever */
  historyRetentionMs: number;
  batch: number;
  onError?: (err: unknown) => void;
  onPurged?: (table: 'jobs' | 'memory_history', rows: number) => void;
}

export interface Retention {
  /** One pass now: every table purged down to its retention (what the schedule runs). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

export function startRetention(db: Db, opts: RetentionOptions): Retention {
  const { jobRetentionMs, historyRetentionMs, batch } = opts;
  // often enough that nothing outlives its retention by much; at most hourly, at least each second
  const everyMs = Math.max(1_000, Math.min(jobRetentionMs, historyRetentionMs || Infinity, 3_600_000));
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  async function drain(table: 'jobs' | 'memory_history', purge: () => Promise<number>): Promise<void> {
    let total = 0;
    for (let n = batch; n === batch && !stopped;) {
      n = await purge();
      total += n;
      await loopTurn();
    }
    if (total) opts.onPurged?.(table, total);
  }

  async function runOnce(): Promise<void> {
    try {
      await drain('jobs', () => purgeFinishedJobs(db, jobRetentionMs, batch));
      if (historyRetentionMs > 0) await drain('memory_history', () => purgeMemoryHistory(db, historyRetentionMs, batch));
    } catch (err) {
      opts.onError?.(err);
    }
  }

  const tick = () => {
    running = running.then(runOnce);
  };
  const first = setTimeout(tick, Math.min(everyMs, 1_000));
  const timer = setInterval(tick, everyMs);
  first.unref();
  timer.unref();

  return {
    runOnce: () => (running = running.then(runOnce)),
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
