// Resumable streams. Every native SSE chat stream is held here while it runs and for
// `holdMs` after it ends, so a client that lost its connection can come back with
// `Last-Event-ID: <seq>` and get exactly the frames after it, then the live rest.
// Memory is bounded: frames and bytes per stream (the oldest frames go first), streams
// and bytes in all (the least recently written streams go first: ended before running).
// Expiry is lazy (checked on every open/resume), so a held stream costs no timer.
// With a StreamLog (Redis, stream-log-redis.ts) every frame is mirrored off the hot
// path, so another instance can replay a stream it never saw.

/** One SSE frame as sent: `id: <id>` and `data: <data>` (one JSON line). */
export interface Frame {
  id: number;
  data: string;
}

/** Who may resume a stream: the org that started it, on the same agent's path (and, for a scoped key, as the same user). */
export interface StreamOwner {
  orgId: string;
  agentId: string;
  /** the user the turn ran as; a resume that names one must match it */
  userId?: string | null;
}

/** Does a resume by `who` match the stream's `owner`? */
export const ownedBy = (owner: StreamOwner, who: StreamOwner) =>
  owner.orgId === who.orgId && owner.agentId === who.agentId && (who.userId === undefined || (owner.userId ?? null) === who.userId);

/** The producer's handle: every frame the client was sent (or would have been), then end(). */
export interface HeldStream {
  push(frame: Frame): void;
  end(): void;
  /** clients following the live stream on this instance */
  readonly followers: number;
}

/** A resumed stream being delivered: `done` resolves when it has ended or was cancelled. */
export interface Follow {
  done: Promise<void>;
  cancel(): void;
}

export type ResumeResult =
  | { ok: true; follow: Follow }
  /** unknown: never held, expired, evicted or another org's; truncated: frames after `after` were dropped (caps) */
  | { ok: false; reason: 'unknown' | 'truncated' };

/** Frames after `after`, in order, to `onFrame` (first the held ones, then live ones). */
export type ResumeFn = (messageId: string, owner: StreamOwner, after: number, onFrame: (frame: Frame) => void) => Promise<ResumeResult>;

/** A cross-instance mirror of the held streams (fire-and-forget writes). */
export interface StreamLog {
  open(messageId: string, owner: StreamOwner): void;
  append(messageId: string, frame: Frame): void;
  end(messageId: string): void;
  resume: ResumeFn;
  close(): Promise<void>;
}

export interface StreamHold {
  open(messageId: string, owner: StreamOwner): HeldStream;
  /** this instance's hold first, then the log (another instance's streams) */
  resume: ResumeFn;
  /** streams and bytes held here (for tests and metrics) */
  stats(): { streams: number; running: number; bytes: number };
  close(): Promise<void>;
}

export interface HoldLimits {
  /** how long an ended stream stays resumable, ms */
  holdMs: number;
  maxStreams: number;
  maxFramesPerStream: number;
  maxBytesPerStream: number;
  /** all held frames together */
  maxBytes: number;
}

export const defaultHoldLimits: HoldLimits = {
  holdMs: 5 * 60_000,
  maxStreams: 1_000,
  maxFramesPerStream: 10_000,
  maxBytesPerStream: 4 * 1024 * 1024,
  maxBytes: 64 * 1024 * 1024,
};

interface Follower {
  frame(f: Frame): void;
  end(): void;
}

class Held {
  frames: Frame[] = [];
  /** index of the first frame still held */
  head = 0;
  bytes = 0;
  lastId = 0;
  ended = false;
  dropped = false;
  expiresAt = Infinity;
  readonly followers = new Set<Follower>();
  constructor(
    readonly id: string,
    readonly owner: StreamOwner,
  ) {}
  get count(): number {
    return this.frames.length - this.head;
  }
  /** id of the oldest frame still held (lastId + 1 when none is) */
  get firstId(): number {
    return this.count ? this.frames[this.head]!.id : this.lastId + 1;
  }
}

const done: Follow = { done: Promise.resolve(), cancel() {} };

export function createStreamHold(limits: Partial<HoldLimits> = {}, log?: StreamLog): StreamHold {
  const lim = { ...defaultHoldLimits, ...limits };
  // Insertion order is the eviction order: running by start, ended by end (= expiry order).
  const running = new Map<string, Held>();
  const ended = new Map<string, Held>();
  let bytes = 0;

  function drop(h: Held): void {
    if (h.dropped) return;
    h.dropped = true;
    (h.ended ? ended : running).delete(h.id);
    bytes -= h.bytes;
    h.frames = [];
    h.head = 0;
    h.bytes = 0;
    for (const f of h.followers) f.end();
    h.followers.clear();
  }

  function sweep(): void {
    const now = performance.now();
    for (const h of ended.values()) {
      if (h.expiresAt > now) break;
      drop(h);
    }
  }

  function evict(): void {
    while (running.size + ended.size > lim.maxStreams || bytes > lim.maxBytes) {
      const oldest = ended.values().next().value ?? running.values().next().value;
      if (!oldest) break;
      drop(oldest);
    }
  }

  function shift(h: Held): void {
    const f = h.frames[h.head++]!;
    const size = Buffer.byteLength(f.data);
    h.bytes -= size;
    bytes -= size;
    if (h.head > 1024 && h.head * 2 > h.frames.length) {
      h.frames = h.frames.slice(h.head);
      h.head = 0;
    }
  }

  function follow(h: Held, after: number, onFrame: (f: Frame) => void): ResumeResult {
    if (after < h.firstId - 1) return { ok: false, reason: 'truncated' };
    // ids are consecutive: the frame after `after` is at a known index
    for (let i = h.head + Math.max(0, after + 1 - h.firstId); i < h.frames.length; i++) onFrame(h.frames[i]!);
    if (h.ended) return { ok: true, follow: done };
    let resolve!: () => void;
    const finished = new Promise<void>((r) => (resolve = r));
    const follower: Follower = {
      frame: (f) => f.id > after && onFrame(f),
      end: resolve,
    };
    h.followers.add(follower);
    return {
      ok: true,
      follow: {
        done: finished,
        cancel() {
          h.followers.delete(follower);
          resolve();
        },
      },
    };
  }

  return {
    open(messageId, owner) {
      sweep();
      const existing = running.get(messageId) ?? ended.get(messageId);
      if (existing) drop(existing);
      const h = new Held(messageId, owner);
      running.set(messageId, h);
      evict();
      log?.open(messageId, owner);
      return {
        push(frame) {
          log?.append(messageId, frame);
          if (h.dropped || h.ended) return;
          const size = Buffer.byteLength(frame.data);
          h.frames.push(frame);
          h.lastId = frame.id;
          h.bytes += size;
          bytes += size;
          while (h.count > 1 && (h.count > lim.maxFramesPerStream || h.bytes > lim.maxBytesPerStream)) shift(h);
          if (bytes > lim.maxBytes) evict();
          for (const f of h.followers) f.frame(frame);
        },
        end() {
          if (h.ended) return;
          log?.end(messageId);
          if (h.dropped) return;
          running.delete(messageId);
          h.ended = true;
          h.expiresAt = performance.now() + lim.holdMs;
          ended.set(messageId, h);
          for (const f of h.followers) f.end();
          h.followers.clear();
        },
        get followers() {
          return h.followers.size;
        },
      };
    },

    async resume(messageId, owner, after, onFrame) {
      sweep();
      const h = running.get(messageId) ?? ended.get(messageId);
      if (h) {
        if (!ownedBy(h.owner, owner)) return { ok: false, reason: 'unknown' };
        return follow(h, after, onFrame);
      }
      return log ? log.resume(messageId, owner, after, onFrame) : { ok: false, reason: 'unknown' };
    },

    stats: () => ({ streams: running.size + ended.size, running: running.size, bytes }),

    async close() {
      for (const h of [...running.values(), ...ended.values()]) drop(h);
      await log?.close();
    },
  };
}
