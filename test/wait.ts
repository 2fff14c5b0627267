// The suite's one poll-until: for what happens on its own time (a job, a delivery, a bus
// message, a socket closing). Kept apart from harness.ts (which re-exports it) so unit tests
// under src/ can use it without starting the app's modules.
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** when to give up, in ms. A deadline here says "not stuck", never how fast: speed is for the benchmarks */
  timeoutMs?: number;
  /** the pause between two checks, in ms */
  intervalMs?: number;
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Calls `check` until it returns something truthy, and returns that. A check that throws
 * (an assertion not true yet, a connection refused) is tried again. After `timeoutMs` the
 * failure says `what` ("the job is done": not after 10000 ms) and the last error or value the check gave.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20 }: WaitOptions = {},
): Promise<Truthy<Awaited<T>>> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    let last: unknown;
    try {
      const value = await check();
      if (value) return value as Truthy<Awaited<T>>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (performance.now() >= end) {
      const detail = last instanceof Error ? `: ${last.message}` : typeof last === 'boolean' || last === undefined ? '' : `: last ${JSON.stringify(last)}`;
      throw new Error(`${what}: not after ${timeoutMs} ms${detail}`, { cause: last });
    }
    await sleep(intervalMs);
  }
}
