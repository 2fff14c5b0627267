import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { STAGES, createTimings, criticalPath, type Span, type Stage } from './timings.ts';

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
  assert.deepEqual(Object.keys(t.toJSON()), [...STAGES, 'critical_path']);
});

test('start defaults to now on the monotonic clock', () => {
  const before = performance.now();
  const t = createTimings();
  assert.ok(t.start >= before && t.start <= performance.now());
});

const spans = (list: Array<[Stage, number, number]>): Span[] => list.map(([stage, begin, end]) => ({ stage, begin, end }));
const sum = (path: Array<[Stage, number]>) => path.reduce((s, [, ms]) => s + ms, 0);

test('critical path: of history ‖ recall ‖ connect the one that finished last; the path adds up to the end', () => {
  const path = criticalPath(
    spans([
      ['auth', 0, 2],
      ['route', 2, 3],
      ['agent', 3, 4],
      ['history', 4, 6],
      ['recall', 4, 54],
      ['connect', 4.5, 10],
      ['prompt', 54, 54.5],
      ['upstream_ttfb', 54.5, 100],
      ['buffer', 100, 101],
    ]),
    0,
    101,
  );
  assert.deepEqual(path, [
    ['auth', 2],
    ['route', 1],
    ['agent', 1],
    ['recall', 50],
    ['prompt', 0.5],
    ['upstream_ttfb', 45.5],
    ['buffer', 1],
  ]);
  assert.equal(sum(path), 101);

  // The connection finishing last is the one the prompt waited for.
  const slowConnect = criticalPath(
    spans([
      ['auth', 0, 2],
      ['history', 2, 3],
      ['recall', 2, 10],
      ['connect', 2, 40],
      ['prompt', 40, 41],
      ['upstream_ttfb', 41, 60],
    ]),
    0,
    60,
  );
  assert.deepEqual(
    slowConnect.map(([s]) => s),
    ['auth', 'connect', 'prompt', 'upstream_ttfb'],
  );
  assert.equal(sum(slowConnect), 60);
});

test('critical path: recall after the history read (the session names the user) puts both on it; glue goes to the later stage', () => {
  const path = criticalPath(
    spans([
      ['auth', 1, 2],
      ['agent', 2.5, 3],
      ['history', 3, 8],
      ['recall', 8.2, 20],
      ['connect', 8.2, 9],
      ['prompt', 20, 21],
      ['upstream_ttfb', 21, 30],
    ]),
    0,
    30.3,
  );
  assert.deepEqual(
    path.map(([s]) => s),
    ['auth', 'agent', 'history', 'recall', 'prompt', 'upstream_ttfb'],
  );
  assert.equal(path[0]![1], 2, 'the first stage is charged from the start');
  assert.ok(Math.abs(path[3]![1] - 12) < 1e-9, 'recall from the end of history');
  assert.ok(Math.abs(path.at(-1)![1] - 9.3) < 1e-9, 'the last up to the end');
  assert.ok(Math.abs(sum(path) - 30.3) < 1e-9);
});

test('timings JSON: critical_path once the first byte is out, and it sums to first_byte', async () => {
  const t = createTimings();
  t.mark('auth');
  const h = performance.now();
  const r = performance.now();
  await Promise.all([sleep(5).then(() => t.mark('history', h)), sleep(25).then(() => t.mark('recall', r))]);
  const u = performance.now();
  await sleep(10);
  t.mark('upstream_ttfb', u);
  assert.equal(t.toJSON().critical_path, undefined, 'no first byte yet');
  t.mark('buffer', t.endOf('upstream_ttfb'));
  t.mark('first_byte');
  const j = t.toJSON();
  assert.deepEqual(
    j.critical_path!.map(([s]) => s),
    ['auth', 'recall', 'upstream_ttfb', 'buffer'],
  );
  const total = j.critical_path!.reduce((s, [, ms]) => s + ms, 0);
  assert.ok(Math.abs(total - j.first_byte!) < 0.01, `${total} vs ${j.first_byte}`);
  assert.ok(j.critical_path![1]![1] >= 24, 'recall, the slower of the two, is on it');
});
