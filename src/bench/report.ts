// The text report: per-stage timings beside the seed's costs, then direct vs. through
// per concurrency, then the inter-delta gaps. Plain fixed-width columns.
import type { BenchResult } from './result.ts';
import type { SoakResult } from './soak.ts';
import { SEED_HEADLINE, SEED_ROWS } from './seed-table.ts';
import { fmtMs } from './stats.ts';

export function formatReport(r: BenchResult): string {
  return [
    ...headerLines(r),
    ...stageLines(r.levels),
    ...recallLines(r.levels),
    ...ttfbLines(r.levels),
    ...floorLines(r.levels),
    ...upstreamLines(r),
    ...gapLines(r),
    '',
    `run took ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}

type Level = BenchResult['levels'][number];

/** The machine, the store and profile, the memories seeded. */
function headerLines(r: BenchResult): string[] {
  const out: string[] = [];
  const m = r.machine;
  out.push(`agentmem bench — ${r.date.slice(0, 10)} — ${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.platform}`);
  out.push(
    `store: ${r.store} (scope check: ${r.options.scopeCheck}); profile: ${r.profile} (first token ${r.profileSettings.first_token_ms} ms, ${r.profileSettings.tokens_per_s || '∞'} tokens/s)`,
  );
  out.push(
    'skipped' in r.memories
      ? `memories: NOT seeded — ${r.memories.skipped}`
      : `memories: ${r.memories.seeded} seeded for the user in ${(r.memories.ms / 1000).toFixed(1)} s; window ${r.options.window ?? 10} (sessions filled with ${r.options.fillTurns} turns first), recall top 5, extract on${r.options.workingMemory ? ', working memory on' : ''}${r.options.vary ? '; --vary: every measured request asks a new, unrelated question' : ''}`,
  );
  out.push('');
  return out;
}

/** Per stage beside the seed's cost for it, and which stages were skipped why. */
function stageLines(levels: Level[]): string[] {
  const out: string[] = [];
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
    Object.entries(l.through.skipped).map(
      ([stage, reasons]) =>
        `c=${l.concurrency}: ${stage} skipped ${Object.entries(reasons)
          .map(([k, v]) => `${v}× ${k}`)
          .join(', ')}`,
    ),
  );
  if (skipped.length) out.push(`(${skipped.join('; ')})`);
  out.push('');
  return out;
}

/** Who served recall: the predictive pool, the fresh search, nobody (budget). */
function recallLines(levels: Level[]): string[] {
  const out: string[] = [];
  out.push('Recall served by: the predictive pool (skipped.recall_search = predicted) / the fresh search / nobody (budget)');
  const pct = (n: number, of: number) => (of ? `${n} (${((100 * n) / of).toFixed(0)} %)` : '0');
  const pair = (s: { p50: number; p99: number } | undefined) => (s ? `${fmtMs(s.p50)} / ${fmtMs(s.p99)}` : '–');
  out.push(
    ...table(
      ['c', 'requests', 'predicted', 'fresh', 'budget', 'recall pred p50/p99', 'recall fresh p50/p99', 'added pred p50/p99', 'added fresh p50/p99'],
      levels.map((l) => {
        const rs = l.through.recallSource;
        return [
          String(l.concurrency),
          String(rs.requests),
          pct(rs.predicted, rs.requests),
          pct(rs.fresh, rs.requests),
          pct(rs.budget, rs.requests),
          pair(rs.stages.predicted.recall),
          pair(rs.stages.fresh.recall),
          pair(rs.stages.predicted.added),
          pair(rs.stages.fresh.added),
        ];
      }),
      1,
    ),
  );
  out.push('');
  return out;
}

/** Time to first content per concurrency, direct and through, beside the seed's headline. */
function ttfbLines(levels: Level[]): string[] {
  const out: string[] = [];
  out.push(
    `Time to first content, client-side (ms). Seed: direct ${SEED_HEADLINE.directMs}, through ${SEED_HEADLINE.throughMs}, overhead ${SEED_HEADLINE.overheadMs} (${SEED_HEADLINE.beforeTuningMs} before tuning)`,
  );
  out.push(
    ...table(
      ['c', 'requests', 'direct p50', 'p99', 'through p50', 'p99', 'overhead p50', 'p99', 'added p50', 'p99', 'errors d/t'],
      levels.map((l) => [
        String(l.concurrency),
        String(l.direct.requests),
        fmtMs(l.direct.ttfb.p50),
        fmtMs(l.direct.ttfb.p99),
        fmtMs(l.through.ttfb.p50),
        fmtMs(l.through.ttfb.p99),
        fmtMs(l.overhead.p50),
        fmtMs(l.overhead.p99),
        fmtMs(l.overhead.added.p50),
        fmtMs(l.overhead.added.p99),
        `${l.direct.errors}/${l.through.errors}`,
      ]),
      1,
    ),
  );
  out.push("overhead = through − direct, percentile by percentile; added = agentmem's own first_byte − upstream_ttfb, per request");
  out.push('');
  return out;
}

/** Against the floor proxy, and what a turn costs besides time (CPU, event-loop delay). */
function floorLines(levels: Level[]): string[] {
  const out: string[] = [];
  out.push('Against the floor (a plain Node keep-alive proxy re-encoding the SSE, same run), and what a turn costs besides time');
  out.push(
    ...table(
      [
        'c',
        'floor ovh p50',
        'p99',
        'beyond floor p50',
        'p99',
        'CPU/turn d',
        'f',
        't',
        'added by agentmem',
        'PG CPU/turn t',
        'loop p99 d',
        'f',
        't',
        'errors f',
      ],
      levels.map((l) => [
        String(l.concurrency),
        fmtMs(l.overhead.floor.p50),
        fmtMs(l.overhead.floor.p99),
        fmtMs(l.overhead.beyondFloor.p50),
        fmtMs(l.overhead.beyondFloor.p99),
        fmtMs(l.direct.cpuPerTurnMs),
        fmtMs(l.floor.cpuPerTurnMs),
        fmtMs(l.through.cpuPerTurnMs),
        fmtMs(l.overhead.cpuPerTurnMs.through),
        l.through.postgresCpuPerTurnMs === undefined ? '–' : fmtMs(l.through.postgresCpuPerTurnMs),
        fmtMs(l.direct.loopDelay.p99),
        fmtMs(l.floor.loopDelay.p99),
        fmtMs(l.through.loopDelay.p99),
        String(l.floor.errors),
      ]),
      1,
    ),
  );
  out.push(
    "CPU/turn: this process, all threads (client, emulator, server), background work included, per turn of the phase (d direct, f floor, t through); added by agentmem = t − d; PG: the PostgreSQL server's processes; loop: main-thread event-loop delay during the phase, how late a 1 ms timer fired (the interval itself not counted: Node's histogram reads ~1.08 ms on an idle loop), agentmem's and the floor's alone: the emulator and the client have threads of their own",
  );
  return out;
}

/** Upstream connections per turn, the prompt sent, whole-stream times and the errors seen. */
function upstreamLines(r: BenchResult): string[] {
  const levels = r.levels;
  const out: string[] = [];
  out.push(
    `upstream connections opened per turn${r.options.tls ? ' (HTTPS)' : ''}${r.options.rttMs ? `, round trip ${r.options.rttMs} ms` : ''}: ` +
      levels.map((l) => `c=${l.concurrency} direct ${fmtRatio(l.direct.upstreamConnections)}, through ${fmtRatio(l.through.upstreamConnections)}`).join('; '),
  );
  const prompts = levels.filter((l) => l.through.prompt);
  if (prompts.length)
    out.push(
      `prompt sent upstream (a through request): ${prompts.map((l) => `c=${l.concurrency} ${l.through.prompt!.messages} messages, ${l.through.prompt!.chars} characters`).join('; ')}`,
    );
  out.push(
    ...table(
      ['c', 'stream direct p50', 'p99', 'through p50', 'p99'],
      levels.map((l) => [String(l.concurrency), fmtMs(l.direct.total.p50), fmtMs(l.direct.total.p99), fmtMs(l.through.total.p50), fmtMs(l.through.total.p99)]),
      1,
    ),
  );
  const errors = levels.flatMap((l) => [
    ...l.direct.errorKinds.map((e) => `c=${l.concurrency} direct: ${e}`),
    ...l.through.errorKinds.map((e) => `c=${l.concurrency} through: ${e}`),
  ]);
  if (errors.length) out.push('errors:', ...errors.map((e) => `  ${e}`));
  return out;
}

/** The inter-delta gaps of the paced streams, and the highest level sustained. */
function gapLines(r: BenchResult): string[] {
  const levels = r.levels;
  const out: string[] = [];
  const gapLevels = levels.filter((l) => l.gaps);
  if (gapLevels.length) {
    out.push('');
    out.push(
      `Inter-delta gaps, ${r.template.deltas} deltas × ${r.template.bytes} bytes every ${r.template.intervalMs} ms (ms; stall = gap > ${2 * r.template.intervalMs} ms)`,
    );
    out.push(
      ...table(
        ['c', 'streams', 'direct p50', 'p99', 'through p50', 'p99', 'added p99', 'lost frames d/t', 'stalls d/t', 'errors d/t', 'loop p99 d', 't'],
        gapLevels.map((l) => {
          const g = l.gaps!;
          return [
            String(l.concurrency),
            String(g.streams),
            fmtMs(g.direct.gaps.p50),
            fmtMs(g.direct.gaps.p99),
            fmtMs(g.through.gaps.p50),
            fmtMs(g.through.gaps.p99),
            fmtMs(g.addedP99),
            `${g.direct.framesLost}/${g.through.framesLost}`,
            `${g.direct.stalls}/${g.through.stalls}`,
            `${g.direct.errors}/${g.through.errors}`,
            g.loopDelay ? fmtMs(g.loopDelay.direct.p99) : '–',
            g.loopDelay ? fmtMs(g.loopDelay.through.p99) : '–',
          ];
        }),
        1,
      ),
    );
  }
  if (r.sustained) {
    const f = (n?: number) => (n === undefined ? 'none of the levels' : `${n} streams`);
    out.push(
      `Sustained (highest level run with no error, no lost frame, no gap > ${2 * r.template.intervalMs} ms; levels ${r.sustained.levels.join(', ')} streams): through agentmem ${f(r.sustained.through)}, direct ${f(r.sustained.direct)}`,
    );
  }
  return out;
}

const fmtRatio = (u: { opened: number; perTurn: number } | undefined) => (u ? `${u.perTurn.toFixed(3)} (${u.opened})` : '–');

/** Left-aligns the first `textCols` columns, right-aligns the rest. */
function table(head: string[], rows: string[][], textCols: number): string[] {
  const full = rows.filter((r) => r.length === head.length);
  const widths = head.map((h, i) => Math.max(h.length, ...full.map((r) => r[i]!.length)));
  const line = (cells: string[]) => {
    // a row with fewer cells (a note) runs on past the columns
    if (cells.length < head.length) return cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ');
    return cells
      .map((c, i) => (i < textCols ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  };
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** The soak's text report. */
export function formatSoakReport(r: SoakResult): string {
  const out: string[] = [];
  const m = r.machine;
  const s = r.stats;
  out.push(
    `agentmem bench --soak — ${r.date.slice(0, 10)} — ${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.platform}; load ${m.loadavg.join(' ')} → ${m.loadavgEnd.join(' ')}`,
  );
  out.push(
    `store: ${r.store}; ${r.options.seconds} s at ${r.options.concurrency} concurrent streams, ${r.template.deltas} deltas × ${r.template.bytes} bytes every ${r.template.intervalMs} ms, continuous`,
  );
  out.push(
    'skipped' in r.memories
      ? `memories: NOT seeded — ${r.memories.skipped}`
      : `memories: ${r.memories.seeded} seeded; window 10 (sessions filled with ${r.options.fillTurns} turns first), recall top 5, extract on`,
  );
  out.push('');
  out.push(
    `streams ${s.streams}, errors ${s.errors}, lost frames ${s.framesLost}, stalls (gap > ${2 * r.template.intervalMs} ms) ${s.stalls} in ${s.streamsHurt} streams`,
  );
  out.push(
    `gap ms p50 ${fmtMs(s.gaps.p50)}, p99 ${fmtMs(s.gaps.p99)}, p99.9 ${fmtMs(s.gaps.p999)}, max ${fmtMs(s.gaps.max)} (${s.gaps.n} gaps; 0.1 ms buckets)`,
  );
  out.push(
    `client TTFB ms p50 ${fmtMs(s.ttfb.p50)}, p99 ${fmtMs(s.ttfb.p99)}; added (first_byte − upstream_ttfb) p50 ${fmtMs(s.added.p50)}, p99 ${fmtMs(s.added.p99)}`,
  );
  const rc = s.recall;
  const tot = rc.predicted + rc.fresh + rc.budget + rc.other;
  out.push(`recall served by: pool ${rc.predicted}, fresh search ${rc.fresh}, skipped for budget ${rc.budget}, other ${rc.other} (of ${tot})`);
  if (s.errorKinds.length) out.push('errors:', ...s.errorKinds.map((e) => `  ${e}`));
  out.push('');
  out.push('Memory of the process (MB). RSS is the whole process: agentmem, the emulator and the client worker thread; heap is per isolate.');
  out.push(
    `RSS start ${r.rss.start}, middle ${r.rss.middle}, end ${r.rss.end}, max ${r.rss.max}; slope over t ≥ ${r.rss.slopeFrom} s: ${r.rss.slopeMbPerMin} MB/min`,
  );
  out.push(`main heap used start ${r.mainHeap.start}, end ${r.mainHeap.end}; slope ${r.mainHeap.slopeMbPerMin} MB/min`);
  const w = r.samples.filter((x) => x.workerHeapUsed !== undefined);
  if (w.length)
    out.push(
      `client worker heap used ${w[0]!.workerHeapUsed} → ${w[w.length - 1]!.workerHeapUsed} (its share of RSS, roughly; a thread has no RSS of its own)`,
    );
  const rows = Object.keys(r.rows.after).map((k) => `${k} ${r.rows.before[k] ?? '?'} → ${r.rows.after[k]}`);
  out.push(`rows stored during the soak: ${rows.join(', ')}`);
  out.push('');
  out.push(`run took ${(r.durationMs / 1000).toFixed(1)} s`);
  return out.join('\n');
}
