// Who is still writing a streaming answer. Every answer row is inserted 'streaming' with
// this instance as its owner; while it streams, the owner renews the heartbeat of all its
// streaming rows in one statement every lease / 3 (checkpoints renew it too). Any
// instance closes as incomplete only rows whose heartbeat is older than the lease: a
// dead instance's answers, never a live one's during a rolling start.
import type { Db } from '../store/db.ts';
import { markStreamingIncomplete, renewStreaming } from '../store/repos/messages.ts';

export interface HeartbeatOptions {
  /** this instance's id (the owner written on its streaming rows) */
  owner: string;
  /** a row whose heartbeat is older than this belongs to a dead instance, ms */
  leaseMs: number;
  /** a failed beat or sweep (the store is down: the next beat tries again) */
  onError?: (err: unknown) => void;
  /** rows closed by a sweep */
  onSwept?: (count: number) => void;
}

export interface Heartbeat {
  /** one beat now: renew ours, close the dead ones' (tests) */
  beat(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Closes what dead instances left streaming, then beats every lease / 3. An embedded
 * store has one process: every streaming row it finds at start is a crash's, closed at once.
 */
export async function startHeartbeat(db: Db, opts: HeartbeatOptions): Promise<Heartbeat> {
  const shared = db.engine === 'postgres';
  const swept = await markStreamingIncomplete(db, shared ? opts.leaseMs : undefined);
  if (swept) opts.onSwept?.(swept);
  let running: Promise<void> | undefined;
  const beat = async () => {
    try {
      await renewStreaming(db, opts.owner);
      if (shared) {
        const n = await markStreamingIncomplete(db, opts.leaseMs);
        if (n) opts.onSwept?.(n);
      }
    } catch (err) {
      opts.onError?.(err);
    }
  };
  const timer = setInterval(
    () => {
      running ??= beat().finally(() => (running = undefined));
    },
    Math.max(10, Math.floor(opts.leaseMs / 3)),
  );
  timer.unref();
  return {
    beat: () => (running ??= beat().finally(() => (running = undefined))),
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
