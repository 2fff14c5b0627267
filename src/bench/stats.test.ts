import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diff, fmtMs, percentile, summarize } from './stats.ts';

test('nearest-rank percentiles pick measured values', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile(xs, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.equal(percentile([1, 2, 3], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
});

test('summarize sorts, drops non-finite values, and diff subtracts percentiles', () => {
  const s = summarize([5, 1, NaN, 3, Infinity, 2, 4]);
  assert.deepEqual(s, { n: 5, min: 1, p50: 3, p90: 5, p99: 5, max: 5, mean: 3 });
  const d = diff(summarize([11, 12, 13]), s);
  assert.equal(d.p50, 12 - 3);
  assert.equal(summarize([]).n, 0);
});

test('fmtMs keeps about three significant digits', () => {
  assert.equal(fmtMs(0.04213), '0.042');
  assert.equal(fmtMs(1.374), '1.37');
  assert.equal(fmtMs(12.44), '12.4');
  assert.equal(fmtMs(1530.2), '1530');
  assert.equal(fmtMs(undefined), '–');
});
