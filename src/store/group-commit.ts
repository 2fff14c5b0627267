// Group commit: the same write for many turns, as one statement. A write goes out at once
// while fewer than `inflight` are running; the ones that arrive meanwhile wait for one to
// return and then go together, as one statement. At one turn at a time nothing waits and
// nothing changes; under load, a statement's fixed cost (a round trip, a parse, a plan, a
// commit, for PGlite a message to its thread and back) is paid once per batch instead of
// once per turn. Each caller's promise settles with its own write, after the statement
// that holds it has committed: nothing is acknowledged earlier than before. Reads that must
// begin after they are asked (memory-sync.ts's scope versions) group the same way.
//
// A batch that fails is run again one write at a time, so one bad write (a session deleted
// meanwhile) fails alone.

export interface GroupCommitOptions<I, O> {
  /** one write, as a statement of its own */
  one(item: I): Promise<O>;
  /** several writes as one statement: the results in the items' order */
  many(items: I[]): Promise<O[]>;
  /** statements running at once, at most (PGlite runs one at a time anyway) */
  inflight: number;
  /** writes per statement, at most */
  maxBatch?: number;
  /** may `item` go in the same statement as `batch`? (e.g. not two turns of one session) */
  canJoin?(batch: readonly I[], item: I): boolean;
  /** each statement's size, as it goes out (a metric) */
  onBatch?(size: number): void;
}

interface Waiting<I, O> {
  item: I;
  resolve(v: O): void;
  reject(e: unknown): void;
}

export function groupCommit<I, O>(opts: GroupCommitOptions<I, O>): (item: I) => Promise<O> {
  const maxBatch = opts.maxBatch ?? 64;
  let queue: Waiting<I, O>[] = [];
  let running = 0;

  const next = () => {
    while (running < opts.inflight && queue.length) {
      const batch: Waiting<I, O>[] = [];
      const items: I[] = [];
      const rest: Waiting<I, O>[] = [];
      for (const w of queue) {
        if (batch.length < maxBatch && (!opts.canJoin || opts.canJoin(items, w.item))) {
          batch.push(w);
          items.push(w.item);
        } else rest.push(w);
      }
      queue = rest;
      running++;
      opts.onBatch?.(batch.length);
      // run() settles every waiter itself and never rejects: nothing waits for the batch here.
      void run(batch, items).finally(() => {
        running--;
        next();
      });
    }
  };

  const run = async (batch: Waiting<I, O>[], items: I[]): Promise<void> => {
    if (batch.length > 1) {
      try {
        const results = await opts.many(items);
        batch.forEach((w, i) => w.resolve(results[i]!));
        return;
      } catch {
        // one at a time below: each write gets its own outcome
      }
    }
    await Promise.all(batch.map((w) => opts.one(w.item).then(w.resolve, w.reject)));
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      next();
    });
}
