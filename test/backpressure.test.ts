// Backpressure end to end, measured as an outsider would (issue 27): the real CLI in a child
// process (its RSS from /proc), the baseline right after start and one ordinary turn, then
// four clients — native SSE, WebSocket, OpenAI-compatible, UI stream — ask for a ~4 MB answer
// and stop reading after the first bytes, while ordinary turns keep running beside them. The
// server stops reading the model: the emulator's byte counts stop (its writes wait for 'drain',
// /_emulator/stats) far short of a whole answer, and the server's RSS, sampled every 50 ms over
// the whole pause, peaks less than 50 MiB above the baseline. Then the SSE client reads again:
// it gets the whole answer byte for byte, stored whole (`scripts/paused-clients.ts` resumes all
// four; here that would take minutes on a busy machine).
// (A client that stays stalled: backpressure-stall.test.ts; the shared code: backpressure-clients.ts.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engines } from './harness.ts';
import { measurePausedClients } from './backpressure-clients.ts';

const BOUND_MIB = 50;
/** ordinary turns running at a time beside the paused clients */
const LOAD = 1;

for (const engine of engines) {
  describe(`backpressure, ${engine}`, () => {
    test('four paused clients, ordinary turns beside them: the upstream pauses, RSS peaks < 50 MiB over the baseline; one reads again, gets it all, stored whole', async () => {
      // measurePausedClients fails if an upstream never pauses, a resumed client misses a byte
      // or an answer is not stored whole and complete.
      const m = await measurePausedClients(engine, { load: LOAD });
      console.log(`# ${engine}: ${JSON.stringify(m)}`);
      assert.ok(m.loadTurns > 0, 'ordinary turns completed beside the paused clients');
      assert.ok(
        m.upstreamMiB.every((b) => b < m.wholeMiB / 2),
        `each upstream paused at under half of a whole answer: ${m.upstreamMiB.join(', ')} of ${m.wholeMiB} MiB`,
      );
      assert.ok(m.peakGrowthMiB < BOUND_MIB, `server RSS peaked ${m.peakGrowthMiB} MiB over its baseline (${m.baselineMiB} MiB) with four paused clients`);
    });
  });
}
