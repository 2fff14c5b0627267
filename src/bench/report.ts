// The text report: per-stage timings beside the seed's costs, then direct vs. through
// per concurrency, then the inter-delta gaps. Plain fixed-width columns.
import type { BenchResult } from './run.ts';
import { SEED_HEADLINE, SEED_ROWS } from './seed-table.ts';
import { fmtMs } from './stats.ts';

export function formatReport(r: BenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`agentmem bench — ${r.date.slice(0, 10)} — ${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.platform}`);
  out.push(`store: ${r.store}; profile: ${r.profile} (first token ${r.profileSettings.first_token_ms} ms, ${r.profileSettings.tokens_per_s || '∞'} tokens/s)`);
  out.push(
    'skipped' in r.memories
      ? `memories: NOT seeded — ${r.memories.skipped}`
      : `memories: ${r.memories.seeded} seeded for the user in ${(r.memories.ms / 1000).toFixed(1)} s; window 10 (sessions filled with ${r.options.fillTurns} turns first), recall top 5, extract on`,
  );
  out.push('');

  // per stage
  const levels = r.levels;
  out.push('Per stage, through agentmem (ms, from the `done` event timings)');
  const head = ['seed stage', 'seed ms', 'agentmem stage', ...levels.flatMap((l) => [`c=${l.concurrency} p50`, 'p99'])];
  const rows: string[][] = [];
  for (const row of SEED_ROWS) {
    const seedMs = row.seedMs[0] === row.seedMs[1] ? `${row.seedMs[0]}` : `${row.seedMs[0]}–${row.seedMs[1]}`;
    if (!row.ours.length) {
      rows.push([row.seed, seedMs, `— ${row.note}`]);
      continue;
    }
    row.ours.forEach((stage, i) => {
      const cells = levels.flatMap((l) => {
        const s = l.through.stages[stage];
        return [fmtMs(s?.p50), fmtMs(s?.p99)];
      });
      rows.push([i === 0 ? row.seed : '', i === 0 ? seedMs : '', stage === 'added' ? 'added = first_byte − upstream_ttfb' : stage, ...cells]);
    });
  }
  out.push(...table(head, rows, 3));
  const skipped = levels.flatMap((l) =>
    Object.entries(l.through.skipped).map(([stage, reasons]) => `c=${l.concurrency}: ${stage} skipped ${Object.entries(reasons).map(([k, v]) => `${v}× ${k}`).join(', ')}`),
  );
  if (skipped.length) out.push(`(${skipped.join('; ')})`);
  out.push('');

  // per concurrency
  out.push(`Time to first content, client-side (ms). Seed: direct ${SEED_HEADLINE.directMs}, through ${SEED_HEADLINE.throughMs}, overhead ${SEED_HEADLINE.overheadMs} (${SEED_HEADLINE.beforeTuningMs} before tuning)`);
  out.push(
    ...table(
      ['c', 'requests', 'direct p50', 'p99', 'through p50', 'p99', 'overhead p50', 'p99', 'added p50', 'p99', 'errors d/t'],
      levels.map((l) => [
        String(l.concurrency), String(l.direct.requests),
        fmtMs(l.direct.ttfb.p50), fmtMs(l.direct.ttfb.p99),
        fmtMs(l.through.ttfb.p50), fmtMs(l.through.ttfb.p99),
        fmtMs(l.overhead.p50), fmtMs(l.overhead.p99),
        fmtMs(l.overhead.added.p50), fmtMs(l.overhead.added.p99),
        `${l.direct.errors}/${l.through.errors}`,
      ]),
      1,
    ),
  );
  out.push('overhead = through − direct, percentile by percentile; added = agentmem\'s own first_byte − upstream_ttfb, per request');
  out.push(
    ...table(
      ['c', 'stream direct p50', 'p99', 'through p50', 'p99'],
      levels.map((l) => [String(l.concurrency), fmtMs(l.direct.total.p50), fmtMs(l.direct.total.p99), fmtMs(l.through.total.p50), fmtMs(l.through.total.p99)]),
      1,
    ),
  );
  const errors = levels.flatMap((l) => [...l.direct.errorKinds.map((e) => `c=${l.concurrency} direct: ${e}`), ...l.through.errorKinds.map((e) => `c=${l.concurrency} through: ${e}`)]);
  if (errors.length) out.push('errors:', ...errors.map((e) => `  ${e}`));

  const gapLevels = levels.filter((l) => l.gaps);
  if (gapLevels.length) {
    out.push('');
    out.push(`Inter-delta gaps, ${r.template.deltas} deltas × ${r.template.bytes} bytes every ${r.template.intervalMs} ms (ms; stall = gap > ${2 * r.template.intervalMs} ms)`);
    out.push(
      ...table(
        ['c', 'streams', 'direct p50', 'p99', 'through p50', 'p99', 'added p99', 'lost frames d/t', 'stalls d/t', 'errors d/t'],
        gapLevels.map((l) => {
          const g = l.gaps!;
          return [
            String(l.concurrency), String(g.streams),
            fmtMs(g.direct.gaps.p50), fmtMs(g.direct.gaps.p99), fmtMs(g.through.gaps.p50), fmtMs(g.through.gaps.p99), fmtMs(g.addedP99),
            `${g.direct.framesLost}/${g.through.framesLost}`, `${g.direct.stalls}/${g.through.stalls}`, `${g.direct.errors}/${g.through.errors}`,
          ];
        }),
        1,
      ),
    );
  }
  out.push('');
  out.push(`run took ${(r.durationMs / 1000).toFixed(1)} s`);
  return out.join('\n');
}

/** Left-aligns the first `textCols` columns, right-aligns the rest. */
function table(head: string[], rows: string[][], textCols: number): string[] {
  const full = rows.filter((r) => r.length === head.length);
  const widths = head.map((h, i) => Math.max(h.length, ...full.map((r) => r[i]!.length)));
  const line = (cells: string[]) => {
    // a row with fewer cells (a note) runs on past the columns
    if (cells.length < head.length) return cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ');
    return cells.map((c, i) => (i < textCols ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  };
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}
