// The held streams, mirrored to Redis so any instance can resume any stream. One Redis
// stream per message id (`<prefix>stream:<id>`: entries {s: seq, d: data} — or, for the
// frames of one flush together, {s: first seq, z: their data joined by newlines, deflated} — then {e: 1} at the
// end; XADD MAXLEN ~ caps it) and its owner (`<prefix>stream:<id>:owner`), both expiring
// `holdMs` after the end (`liveTtlMs` after the last frame while running, so a crashed
// instance's streams go away too). Writes never wait: they are queued and sent as one
// pipeline every `coalesceMs`, a stream's frames of that span as one entry: a Redis stream
// entry costs ~30 B beside its data, and token frames repeat the same JSON around a few
// characters, so a deflated run of them costs a few bytes a frame instead of ~88 B. Each
// frame keeps its own id, so Last-Event-ID resumes at any frame. A reader replays with
// XRANGE and follows the live rest with XREAD BLOCK on its own connection.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { ownedBy, type Frame, type ResumeResult, type StreamLog, type StreamOwner } from './stream-hold.ts';

export interface RedisStreamLogOptions {
  /** key prefix, e.g. `agentmem:` (tests use one per run) */
  prefix: string;
  holdMs: number;
  maxFramesPerStream: number;
  /** how long a running stream's keys live after its last frame */
  liveTtlMs?: number;
  /** how long one XREAD waits before the reader checks the stream still exists */
  blockMs?: number;
  /** frames written within this span go as one entry (a resumer on another instance sees them that much later) */
  coalesceMs?: number;
  onError?: (err: Error) => void;
}

type Entry = [id: string, fields: string[]];
type Write = { kind: 'open'; id: string; owner: string } | { kind: 'frame'; id: string; frame: Frame } | { kind: 'end'; id: string };

/** writes queued while Redis is slow; beyond this the mirror drops frames rather than grow */
const MAX_QUEUE = 50_000;

export function createRedisStreamLog(url: string, opts: RedisStreamLogOptions): StreamLog {
  const onError = opts.onError ?? (() => {});
  const liveTtl = Math.max(opts.liveTtlMs ?? 10 * 60_000, opts.holdMs);
  const blockMs = opts.blockMs ?? 5_000;
  const coalesceMs = opts.coalesceMs ?? 50;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', onError);
  const readers = new Set<Redis>();
  const key = (id: string) => `${opts.prefix}stream:${id}`;
  const ownerKey = (id: string) => `${opts.prefix}stream:${id}:owner`;
  const ownerValue = (o: StreamOwner) => JSON.stringify([o.orgId, o.agentId, o.userId ?? null]);
  const ownerOf = (v: string | null): StreamOwner | undefined => {
    if (!v) return undefined;
    try {
      const [orgId, agentId, userId] = JSON.parse(v) as [string, string, string | null];
      return { orgId, agentId, userId };
    } catch {
      return undefined; // written by an older version
    }
  };

  // Writes wait for the next event-loop turn and go as one pipeline; each stream's keys
  // get their expiry once per pipeline, not once per frame.
  let queue: Write[] = [];
  let scheduled = false;
  let closed = false;
  const flush = () => {
    scheduled = false;
    if (!queue.length) return;
    const writes = queue;
    queue = [];
    const p = redis.pipeline();
    const ttl = new Map<string, number>();
    // each stream's frames of this flush, written as one entry before its end marker (or after the loop)
    const frames = new Map<string, Frame[]>();
    const writeFrames = (id: string) => {
      const batch = frames.get(id);
      if (!batch) return;
      frames.delete(id);
      // runs of consecutive ids, each one entry: the data joined by newlines (a frame's JSON has none)
      for (let i = 0; i < batch.length;) {
        let j = i + 1;
        while (j < batch.length && batch[j]!.id === batch[j - 1]!.id + 1 && !batch[j]!.data.includes('\n')) j++;
        const run = batch.slice(i, j);
        const fields =
          run.length === 1
            ? ['s', run[0]!.id, 'd', run[0]!.data]
            : ['s', run[0]!.id, 'z', deflateRawSync(run.map((f) => f.data).join('\n')).toString('base64')];
        p.xadd(key(id), 'MAXLEN', '~', opts.maxFramesPerStream, '*', ...fields);
        i = j;
      }
    };
    for (const w of writes) {
      if (w.kind === 'open') p.set(ownerKey(w.id), w.owner, 'PX', liveTtl);
      else if (w.kind === 'frame') {
        const batch = frames.get(w.id);
        if (batch) batch.push(w.frame);
        else frames.set(w.id, [w.frame]);
      } else {
        writeFrames(w.id);
        p.xadd(key(w.id), '*', 'e', '1');
      }
      ttl.set(w.id, w.kind === 'end' ? opts.holdMs : liveTtl);
    }
    for (const id of [...frames.keys()]) writeFrames(id);
    for (const [id, ms] of ttl) p.pexpire(key(id), ms).pexpire(ownerKey(id), ms);
    p.exec().then((results) => {
      const failed = results?.find(([err]) => err);
      if (failed) onError(failed[0]!);
    }, onError);
  };
  const enqueue = (w: Write) => {
    if (closed || queue.length >= MAX_QUEUE) return;
    queue.push(w);
    // A new stream is written at once: another instance asked to resume it right away must find it.
    if (w.kind === 'open') setImmediate(flush);
    else if (!scheduled) {
      scheduled = true;
      setTimeout(flush, coalesceMs);
    }
  };

  /** Delivers entries after `after`; true once the end marker was seen. */
  const deliver = (entries: Entry[], after: number, onFrame: (f: Frame) => void): boolean => {
    for (const [, fields] of entries) {
      const f = toFields(fields);
      if (f.e) return true;
      if (f.z !== undefined) {
        const first = Number(f.s);
        inflateRawSync(Buffer.from(f.z, 'base64'))
          .toString()
          .split('\n')
          .forEach((data, i) => first + i > after && onFrame({ id: first + i, data }));
        continue;
      }
      const id = Number(f.s);
      if (id > after && f.d !== undefined) onFrame({ id, data: f.d });
    }
    return false;
  };

  return {
    open: (id, owner) => enqueue({ kind: 'open', id, owner: ownerValue(owner) }),
    append: (id, frame) => enqueue({ kind: 'frame', id, frame }),
    end: (id) => enqueue({ kind: 'end', id }),

    async resume(messageId, owner, after, onFrame): Promise<ResumeResult> {
      const [[ownerErr, holder], [rangeErr, range]] = (await redis.multi().get(ownerKey(messageId)).xrange(key(messageId), '-', '+').exec())! as [
        [Error | null, string | null],
        [Error | null, Entry[]],
      ];
      if (ownerErr || rangeErr) throw ownerErr ?? rangeErr;
      const held = ownerOf(holder);
      if (!held || !ownedBy(held, owner) || !range.length) return { ok: false, reason: 'unknown' };
      const first = toFields(range[0]![1]);
      if (!first.e && Number(first.s) > after + 1) return { ok: false, reason: 'truncated' };
      if (deliver(range, after, onFrame)) return { ok: true, follow: { done: Promise.resolve(), cancel() {} } };

      // The live rest: XREAD BLOCK on a connection of its own, closed on cancel.
      const reader = redis.duplicate({ maxRetriesPerRequest: 0 });
      reader.on('error', () => {});
      readers.add(reader);
      let cancelled = false;
      let lastId = range.at(-1)![0];
      const done = (async () => {
        try {
          while (!cancelled) {
            const res = (await reader.xread('BLOCK', blockMs, 'STREAMS', key(messageId), lastId)) as Array<[string, Entry[]]> | null;
            if (cancelled) break;
            if (!res) {
              // nothing new: the stream may have expired (its instance died)
              if (!(await reader.exists(key(messageId)))) break;
              continue;
            }
            const entries = res[0]![1];
            if (!entries.length) continue;
            lastId = entries.at(-1)![0];
            if (deliver(entries, after, onFrame)) break;
          }
        } catch (err) {
          if (!cancelled) onError(err as Error);
        } finally {
          readers.delete(reader);
          reader.disconnect();
        }
      })();
      return {
        ok: true,
        follow: {
          done,
          cancel() {
            cancelled = true;
            reader.disconnect();
          },
        },
      };
    },

    async close() {
      flush();
      closed = true;
      for (const r of readers) r.disconnect();
      await redis.quit().catch(() => {});
    },
  };
}

function toFields(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
