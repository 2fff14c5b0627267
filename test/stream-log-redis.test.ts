// The Redis copy of a held stream (src/server/stream-log-redis.ts): token frames written in
// one span go as one entry, so the copy of an answer costs near its text instead of ~88 B
// per frame, and Last-Event-ID still resumes at any frame, live or ended.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createRedisStreamLog } from '../src/server/stream-log-redis.ts';
import type { Frame } from '../src/server/stream-hold.ts';
import { needsRedis, testRedis } from './harness.ts';

const FRAMES = 1_000;
const owner = { orgId: 'o', agentId: 'a', userId: null };
const frame = (id: number): Frame => ({ id, data: JSON.stringify({ chunk_type: 'content', content: ' tok', step_id: 's' }) });
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the Redis copy of a stream', { skip: needsRedis }, () => {
  const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(testRedis ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  const log = createRedisStreamLog(testRedis ?? 'redis://127.0.0.1:6379', { prefix, holdMs: 60_000, maxFramesPerStream: 10_000 });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await log.close();
  });

  test(`${FRAMES} token frames: far fewer entries and bytes than frames; a resume from any frame gets the rest in order`, async () => {
    const id = randomBytes(8).toString('hex');
    log.open(id, owner);
    // ten frames per 5 ms: a fast model's pace
    for (let i = 1; i <= FRAMES; i++) {
      log.append(id, frame(i));
      if (i % 10 === 0) await tick(5);
    }
    // a resume while it runs: the frames so far, then the live rest
    const live: number[] = [];
    const running = await log.resume(id, owner, 990, (f) => live.push(f.id));
    assert.ok(running.ok);
    log.end(id);
    await running.follow!.done;
    assert.deepEqual(live, [991, 992, 993, 994, 995, 996, 997, 998, 999, 1_000]);

    const entries = await redis.xlen(`${prefix}stream:${id}`);
    const bytes = Number(await redis.call('MEMORY', 'USAGE', `${prefix}stream:${id}`, 'SAMPLES', '0'));
    const text = FRAMES * frame(1).data.length;
    console.log(`# ${FRAMES} frames (${text} B of data): ${entries} entries, ${bytes} B in Redis (${(bytes / FRAMES).toFixed(1)} B per frame)`);
    assert.ok(entries <= FRAMES / 5, `${entries} entries for ${FRAMES} frames`);
    // before: one entry per frame, 87 B each; now deflated runs of frames
    assert.ok(bytes < text / 2, `${bytes} B for ${text} B of frames`);

    for (const from of [0, 1, 499, 999]) {
      const got: number[] = [];
      const r = await log.resume(id, owner, from, (f) => got.push(f.id));
      assert.ok(r.ok);
      await r.follow!.done;
      assert.deepEqual(
        got,
        Array.from({ length: FRAMES - from }, (_, i) => from + 1 + i),
        `resumed after ${from}`,
      );
    }
  });
});
