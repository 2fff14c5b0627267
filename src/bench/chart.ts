// SVG charts of the bench's runs, hand-written: per concurrency, grouped bars of the
// client-side overhead (through − direct TTFB) and agentmem's own `added` figure, p50
// and p99, on a shared linear axis; the soak's memory and the session's first token as lines.
import type { BenchResult } from './result.ts';
import type { SessionBenchResult } from './session.ts';
import type { SoakResult } from './soak.ts';
import { fmtMs } from './stats.ts';

const SERIES = [
  { label: 'overhead p50 (through − direct)', color: '#4c78a8', pick: (l: BenchResult['levels'][number]) => l.overhead.p50 },
  { label: 'overhead p99', color: '#9ecae9', pick: (l: BenchResult['levels'][number]) => l.overhead.p99 },
  { label: 'added p50 (first_byte − upstream_ttfb)', color: '#f58518', pick: (l: BenchResult['levels'][number]) => l.overhead.added.p50 },
  { label: 'added p99', color: '#ffbf79', pick: (l: BenchResult['levels'][number]) => l.overhead.added.p99 },
];

export function renderChart(r: BenchResult): string {
  const W = 760;
  const H = 420;
  const left = 70;
  const right = 20;
  const top = 90;
  const bottom = 60;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const values = r.levels.flatMap((l) => SERIES.map((s) => s.pick(l))).filter(Number.isFinite);
  const maxV = niceCeil(Math.max(0.001, ...values));
  const minV = Math.min(0, ...values);
  const span = maxV - minV;
  const y = (v: number) => top + plotH - ((v - minV) / span) * plotH;
  const group = plotW / Math.max(1, r.levels.length);
  const bar = Math.min(28, (group * 0.8) / SERIES.length);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(
    `<text x="${left}" y="22" font-size="15" font-weight="600">${esc(`agentmem: time added before the first token (ms), ${r.profile}, ${r.engine}`)}</text>`,
  );
  parts.push(`<text x="${left}" y="40" fill="#555">${esc(`${r.date.slice(0, 10)} · ${r.machine.cpus} CPUs · Node ${r.machine.node} · ${r.store}`)}</text>`);
  // legend: two rows
  SERIES.forEach((s, i) => {
    const lx = left + (i % 2) * 300;
    const ly = 50 + Math.floor(i / 2) * 15;
    parts.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="${ly + 9}" font-size="11">${esc(s.label)}</text>`);
  });
  // axis and grid
  for (let k = 0; k <= 5; k++) {
    const v = minV + (span * k) / 5;
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${fmtMs(v)}</text>`);
  }
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
  r.levels.forEach((l, g) => {
    const x0 = left + g * group + (group - bar * SERIES.length) / 2;
    SERIES.forEach((s, i) => {
      const v = s.pick(l);
      if (!Number.isFinite(v)) return;
      const y1 = Math.min(y(v), y(0));
      const h = Math.max(1, Math.abs(y(v) - y(0)));
      const x = x0 + i * bar;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${esc(`c=${l.concurrency} ${s.label}: ${fmtMs(v)} ms`)}</title></rect>`,
      );
      parts.push(`<text x="${(x + bar / 2 - 1).toFixed(1)}" y="${(y1 - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${fmtMs(v)}</text>`);
    });
    parts.push(`<text x="${left + g * group + group / 2}" y="${H - bottom + 18}" text-anchor="middle">c=${l.concurrency}</text>`);
  });
  parts.push(
    `<text x="${left + plotW / 2}" y="${H - 14}" text-anchor="middle" fill="#555">concurrent streams (seed report: 300 ms overhead after tuning)</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The soak's chart: RSS and heaps (MB) over time, one line each. */
export function renderSoakChart(r: SoakResult): string {
  return renderLineChart({
    title: `agentmem soak: memory over time (MB), ${r.options.concurrency} streams, ${r.engine}`,
    subtitle: `${r.date.slice(0, 10)} · ${r.stats.streams} streams, ${r.stats.errors} errors, ${r.stats.framesLost} lost frames, ${r.stats.stalls} stalls · RSS slope (2nd half) ${r.rss.slopeMbPerMin} MB/min`,
    xLabel: `seconds since the soak started (samples every ${r.options.sampleEvery} s)`,
    xUnit: ' s',
    lines: [
      { label: 'RSS (whole process)', color: '#4c78a8', points: r.samples.map((s) => [s.t, s.rss]) },
      { label: 'heap used, main thread (agentmem + emulator)', color: '#f58518', points: r.samples.map((s) => [s.t, s.mainHeapUsed]) },
      { label: 'heap used, client worker', color: '#54a24b', points: r.samples.map((s) => [s.t, s.workerHeapUsed]) },
    ],
  });
}

/** `agentmem bench --session`: time to first content per turn, direct and through agentmem. */
export function renderSessionChart(r: SessionBenchResult): string {
  return renderLineChart({
    title: `first content per turn (ms): ${r.turns.length}-turn session, ${r.profile}, ${r.engine}`,
    subtitle: `${r.date.slice(0, 10)} · window ${r.window}${r.workingMemory ? ', working memory' : ''}${r.summaries ? ', summaries' : ''} · median direct ${fmtMs(r.direct.medianTtfbMs)} / through ${fmtMs(r.through.medianTtfbMs)} ms · cached ${Math.round(100 * r.direct.cachedShare)} / ${Math.round(100 * r.through.cachedShare)} %`,
    xLabel: 'turn',
    xUnit: '',
    lines: [
      { label: 'direct (a plain client resending its history)', color: '#4c78a8', points: r.turns.map((t) => [t.turn, t.direct.ttfbMs]) },
      { label: 'through agentmem (memory on)', color: '#f58518', points: r.turns.map((t) => [t.turn, t.through.ttfbMs]) },
    ],
  });
}

interface LineChart {
  title: string;
  subtitle: string;
  xLabel: string;
  /** appended to the x axis' tick labels */
  xUnit: string;
  lines: Array<{ label: string; color: string; points: Array<[number, number | undefined]> }>;
}

/** Lines over a shared x axis from 0; a point whose value is undefined or not finite is left out. */
function renderLineChart(c: LineChart): string {
  const W = 760;
  const H = 400;
  const left = 70;
  const right = 20;
  const top = 80;
  const bottom = 50;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
  const maxV = niceCeil(Math.max(1, ...c.lines.flatMap((l) => l.points.map((p) => p[1]).filter(finite))));
  const maxT = Math.max(1, ...c.lines.flatMap((l) => l.points.map((p) => p[0])));
  const x = (t: number) => left + (t / maxT) * plotW;
  const y = (v: number) => top + plotH - (v / maxV) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${left}" y="22" font-size="15" font-weight="600">${esc(c.title)}</text>`);
  parts.push(`<text x="${left}" y="40" fill="#555">${esc(c.subtitle)}</text>`);
  let lx = left;
  for (const l of c.lines) {
    parts.push(`<rect x="${lx}" y="52" width="10" height="10" fill="${l.color}"/><text x="${lx + 14}" y="61" font-size="11">${esc(l.label)}</text>`);
    lx += 34 + l.label.length * 6; // ~6 px a character at 11 px
  }
  for (let k = 0; k <= 5; k++) {
    const v = (maxV * k) / 5;
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${fmtMs(v)}</text>`);
  }
  for (let k = 0; k <= 5; k++) {
    const t = (maxT * k) / 5;
    parts.push(`<text x="${x(t)}" y="${H - bottom + 16}" text-anchor="middle" fill="#555">${t.toFixed(0)}${c.xUnit}</text>`);
  }
  for (const l of c.lines) {
    const pts = l.points.flatMap(([t, v]) => (finite(v) ? [`${x(t).toFixed(1)},${y(v).toFixed(1)}`] : []));
    if (pts.length) parts.push(`<polyline fill="none" stroke="${l.color}" stroke-width="2" points="${pts.join(' ')}"/>`);
  }
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
  parts.push(`<text x="${left + plotW / 2}" y="${H - 12}" text-anchor="middle" fill="#555">${esc(c.xLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
