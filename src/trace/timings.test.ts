import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { STAGES, createTimings } from './timings.ts';

test('mark measures from the start, or from since', async () => {
  const t = createTimings(performance.now() - 100);
  const total = t.mark('total');
  assert.ok(total >= 100 && total < 1000, `${total}`);
  const since = performance.now();
  await sleep(15);
  const auth = t.mark('auth', since);
  assert.ok(auth >= 14 && auth < 1000, `${auth}`);
  assert.equal(t.get('auth'), auth);
  assert.equal(t.get('agent'), undefined);
});

test('time records the duration of fn and passes its value through', async () => {
  const t = createTimings();
  const v = await t.time('recall_embed', async () => {
    await sleep(20);
    return 42;
  });
  assert.equal(v, 42);
  const ms = t.get('recall_embed')!;
  assert.ok(ms >= 19 && ms < 1000, `${ms}`);
});

test('time records the duration even when fn throws', async () => {
  const t = createTimings();
  await assert.rejects(
    t.time('history', async () => {
      throw new Error('db down');
    }),
    /db down/,
  );
  assert.equal(typeof t.get('history'), 'number');
});

test('toJSON: rounded to 0.001 ms, stage order, skipped only when present', () => {
  const t = createTimings(0);
  // marks "since" a chosen origin make the values deterministic relative to now
  const now = performance.now();
  t.mark('total', now - 12.3456789);
  t.mark('auth', now - 0.0004);
  let j = t.toJSON();
  assert.deepEqual(Object.keys(j), ['auth', 'total']);
  assert.equal(j.total, Math.round(t.get('total')! * 1000) / 1000);
  assert.equal(j.auth, Math.round(t.get('auth')! * 1000) / 1000);
  assert.ok(j.total! >= 12.345);
  assert.equal('skipped' in j, false);

  t.skip('recall', 'budget');
  t.skip('connect', 'warm');
  j = t.toJSON();
  assert.deepEqual(j.skipped, { recall: 'budget', connect: 'warm' });
  assert.deepEqual(JSON.parse(JSON.stringify(t)), j); // JSON.stringify uses toJSON
});

test('every stage is accepted', () => {
  const t = createTimings();
  for (const s of STAGES) t.mark(s);
  assert.deepEqual(Object.keys(t.toJSON()), [...STAGES]);
});

test('start defaults to now on the monotonic clock', () => {
  const before = performance.now();
  const t = createTimings();
  assert.ok(t.start >= before && t.start <= performance.now());
});
