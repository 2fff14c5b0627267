import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStreamHold, type Frame } from './stream-hold.ts';

const owner = { orgId: 'o1', agentId: 'a1' };
const frame = (id: number, data = `{"n":${id}}`): Frame => ({ id, data });

async function collect(hold: ReturnType<typeof createStreamHold>, id: string, after: number, o = owner) {
  const got: number[] = [];
  const r = await hold.resume(id, o, after, (f) => got.push(f.id));
  return { r, got };
}

test('held frames after Last-Event-ID, then the live rest, then the end', async () => {
  const hold = createStreamHold();
  const s = hold.open('m1', owner);
  for (let i = 1; i <= 5; i++) s.push(frame(i));
  const { r, got } = await collect(hold, 'm1', 2);
  assert.ok(r.ok);
  assert.deepEqual(got, [3, 4, 5]);
  assert.equal(s.followers, 1);
  s.push(frame(6));
  s.end();
  await r.follow.done;
  assert.deepEqual(got, [3, 4, 5, 6]);
  assert.equal(s.followers, 0);
  assert.deepEqual((await collect(hold, 'm1', 6)).got, []);
  assert.deepEqual((await collect(hold, 'm1', 0)).got, [1, 2, 3, 4, 5, 6]);
});

test('another org, another agent and unknown ids are unknown', async () => {
  const hold = createStreamHold();
  hold.open('m1', owner).push(frame(1));
  assert.deepEqual((await collect(hold, 'm1', 0, { orgId: 'o2', agentId: 'a1' })).r, { ok: false, reason: 'unknown' });
  assert.deepEqual((await collect(hold, 'm1', 0, { orgId: 'o1', agentId: 'a2' })).r, { ok: false, reason: 'unknown' });
  assert.deepEqual((await collect(hold, 'nope', 0)).r, { ok: false, reason: 'unknown' });
});

test('an ended stream expires after holdMs; running ones do not', async () => {
  const hold = createStreamHold({ holdMs: 30 });
  const a = hold.open('a', owner);
  a.push(frame(1));
  a.end();
  const b = hold.open('b', owner);
  b.push(frame(1));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await collect(hold, 'a', 0)).r.ok, false);
  assert.equal((await collect(hold, 'b', 0)).r.ok, true);
  assert.equal(hold.stats().streams, 1);
});

test('caps: oldest frames dropped per stream (a resume needing them is truncated); oldest streams evicted, ended first', async () => {
  const hold = createStreamHold({ maxFramesPerStream: 3, maxStreams: 2 });
  const s = hold.open('m', owner);
  for (let i = 1; i <= 5; i++) s.push(frame(i));
  assert.deepEqual((await collect(hold, 'm', 0)).r, { ok: false, reason: 'truncated' });
  assert.deepEqual((await collect(hold, 'm', 2)).got, [3, 4, 5]);
  const ended = hold.open('e', owner);
  ended.end();
  hold.open('n', owner);
  assert.equal((await collect(hold, 'e', 0)).r.ok, false, 'the ended stream went first');
  assert.equal((await collect(hold, 'm', 4)).r.ok, true);
  hold.open('o', owner);
  assert.equal((await collect(hold, 'm', 4)).r.ok, false, 'then the oldest running one');

  const bytes = createStreamHold({ maxBytesPerStream: 100, maxBytes: 250 });
  const big = 'x'.repeat(40);
  const x = bytes.open('x', owner);
  for (let i = 1; i <= 10; i++) x.push(frame(i, big));
  assert.ok(bytes.stats().bytes <= 100);
  for (const id of ['y', 'z', 'w']) {
    const h = bytes.open(id, owner);
    for (let i = 1; i <= 3; i++) h.push(frame(i, big));
  }
  assert.ok(bytes.stats().bytes <= 250, `total ${bytes.stats().bytes}`);
  assert.equal((await collect(bytes, 'x', 9)).r.ok, false, 'the oldest stream was evicted for bytes');
});

test('an evicted stream ends its followers', async () => {
  const hold = createStreamHold({ maxStreams: 1 });
  const s = hold.open('m', owner);
  s.push(frame(1));
  const { r } = await collect(hold, 'm', 0);
  assert.ok(r.ok);
  hold.open('other', owner);
  await r.follow.done;
});
