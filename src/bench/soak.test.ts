import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram } from './histogram.ts';
import { recallGroup, sustainedStreams } from './measure.ts';
import type { LevelResult } from './result.ts';
import { leastSquaresSlope, runSoak } from './soak.ts';
import { summarize } from './stats.ts';

test('least-squares slope', () => {
  assert.equal(
    leastSquaresSlope([
      [0, 1],
      [1, 3],
      [2, 5],
    ]),
    2,
  );
  assert.ok(
    Math.abs(
      leastSquaresSlope([
        [0, 10],
        [1, 10.5],
        [2, 9.5],
        [3, 10],
      ]) - -0.1,
    ) < 1e-9,
  );
  assert.ok(Number.isNaN(leastSquaresSlope([[1, 1]])));
});

test('the soak histogram: 0.1 ms buckets, exact max, stalls counted above a threshold', () => {
  const h = new Histogram();
  for (let i = 1; i <= 100; i++) h.record(i);
  assert.equal(h.n, 100);
  assert.equal(h.percentile(50), 50);
  assert.equal(h.percentile(99), 99);
  assert.equal(h.max, 100);
  assert.equal(h.above(40), 60);
  h.record(12_345); // beyond the last bucket: still counted, max exact
  assert.equal(h.toJSON().max, 12_345);
});

test('recall groups from done.timings', () => {
  assert.equal(recallGroup({ recall: 0.2, skipped: { recall_search: 'predicted' } }), 'predicted');
  assert.equal(recallGroup({ recall: 3, recall_embed: 0.1, recall_search: 2.9 }), 'fresh');
  assert.equal(recallGroup({ recall: 150, skipped: { recall: 'budget' } }), 'budget');
  assert.equal(recallGroup({ recall: 1, skipped: { recall: 'error' } }), 'other');
});

test('sustained streams: the highest clean level per side', () => {
  const side = (stalls: number, framesLost = 0) => ({ gaps: summarize([20]), errors: 0, framesLost, bytesLost: 0, stalls, streamsHurt: stalls ? 1 : 0 });
  const level = (streams: number, d: number, t: number, lost = 0) =>
    ({ gaps: { streams, intervalMs: 20, direct: side(d), through: side(t, lost), addedP50: 0, addedP99: 0 } }) as unknown as LevelResult;
  assert.deepEqual(sustainedStreams([level(5, 0, 0), level(16, 0, 0), level(64, 3, 0, 1), level(256, 9, 9)]), {
    through: 16,
    direct: 16,
    levels: [5, 16, 64, 256],
  });
  assert.deepEqual(sustainedStreams([level(5, 0, 1)]), { through: undefined, direct: 5, levels: [5] });
  assert.equal(sustainedStreams([]), undefined);
});

// The soak, briefly, on PGlite in memory (`agentmem bench --soak 300` gives the long figures
// in docs/reliability.md): every stream checked for errors and lost or merged frames.
test('a 5 s soak at 32 streams: no error, no lost frame', async () => {
  const r = await runSoak({ seconds: 5, concurrency: 32, memories: 0, fillTurns: 1, sampleEvery: 5 });
  console.log(`# soak 5 s c=32: ${r.stats.streams} streams, ttfb p50 ${r.stats.ttfb.p50} ms, added p99 ${r.stats.added.p99} ms, stalls ${r.stats.stalls}`);
  assert.equal(r.stats.errors, 0, JSON.stringify(r.stats.errorKinds));
  assert.equal(r.stats.framesLost, 0);
  assert.ok(r.stats.streams >= 32, `${r.stats.streams} streams`);
});
