// An answer's final write that failed (the store was down) is not given up: it is kept
// here and tried again, with a backoff from 0.5 s to 30 s, until it is stored. Meanwhile
// the row stays 'streaming', owned by this instance and renewed by its heartbeat, so no
// other instance closes it; if this instance dies first, the lease runs out and another
// marks it incomplete with what was checkpointed (heartbeat.ts).

export interface FinishRetry {
  /** keeps `write` (for answer `id`) until it succeeds; `stored` runs with its result */
  add<T>(id: string, write: () => Promise<T>, stored: (result: T) => void): void;
  /** answers waiting for their write */
  readonly pending: number;
  /** one last try of each (shutdown), then no more */
  stop(): Promise<void>;
}

const MIN_MS = 500;
const MAX_MS = 30_000;

export function createFinishRetry(opts: { onError?: (err: unknown, id: string) => void; onStored?: (id: string) => void } = {}): FinishRetry {
  const waiting = new Map<string, () => Promise<void>>();
  let delay = MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function round(): Promise<void> {
    let failed = false;
    for (const [id, attempt] of [...waiting]) {
      try {
        await attempt();
        waiting.delete(id);
        opts.onStored?.(id);
      } catch (err) {
        failed = true;
        opts.onError?.(err, id);
        break; // the store is still down: the others wait for the next round
      }
    }
    delay = failed ? Math.min(MAX_MS, delay * 2) : MIN_MS;
  }

  function schedule(): void {
    if (timer || stopped || !waiting.size) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = round().finally(() => {
        running = undefined;
        schedule();
      });
    }, delay);
    timer.unref();
  }

  return {
    add(id, write, stored) {
      waiting.set(id, async () => stored(await write()));
      schedule();
    },
    get pending() {
      return waiting.size;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (waiting.size) await round();
    },
  };
}
