// `agentmem bench --session N`, briefly (PGlite in memory, the instant profile, 4 turns):
// it runs, both sides answer every turn, the usage columns are filled, and the report
// prints. No timing is asserted here; the long runs' figures are in docs/benchmarks.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSessionReport, runSessionBench } from './session.ts';

test('a 4-turn session bench: every turn measured on both sides, billed tokens counted, a report', async () => {
  const r = await runSessionBench({ turns: 4, profile: 'instant', memories: 3, summaryFrom: 1, workingMemory: true, summaries: true });
  assert.equal(r.turns.length, 4);
  for (const t of r.turns) {
    assert.ok(Number.isFinite(t.direct.ttfbMs) && Number.isFinite(t.through.ttfbMs), JSON.stringify(t));
    assert.ok(t.direct.promptTokens > 0 && t.through.promptTokens > 0);
    assert.ok(t.direct.cachedTokens <= t.direct.promptTokens && t.through.cachedTokens <= t.through.promptTokens);
  }
  assert.ok(r.turns[3]!.direct.promptTokens > r.turns[0]!.direct.promptTokens, 'the plain client resends a growing history');
  assert.ok(r.direct.billed.requests >= 4 && r.through.billed.requests >= 4, JSON.stringify([r.direct.billed, r.through.billed]));
  const report = formatSessionReport(r);
  console.log(report);
  assert.match(report, /^ {3}4 /m);
  assert.match(report, /billed input/);
});
