import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { isProfileName, PROFILE_NAMES, type ProfileName } from '../emulator/profiles.ts';
import { renderChart, renderSessionChart, renderSoakChart } from '../bench/chart.ts';
import { formatReport, formatSoakReport } from '../bench/report.ts';
import { runBench } from '../bench/run.ts';
import { runSoak } from '../bench/soak.ts';
import { formatSessionReport, runSessionBench } from '../bench/session.ts';
import { rerunTrusting, trustedCertificate } from '../bench/trust.ts';
import { isScopeCheck, type AppConfig } from '../config.ts';
import { benchRecallCommand } from './bench-recall.ts';
import { benchScaleCommand } from './bench-scale.ts';

export function benchCommand(): Command {
  return (
    new Command('bench')
      // `bench recall` has options of the same names (--database): its own, after its name
      .enablePositionalOptions()
      .addCommand(benchRecallCommand())
      .addCommand(benchScaleCommand())
      .description("Rerun the seed report's experiment: the same chat direct to an upstream emulator and through agentmem, per stage and per concurrency")
      .option('--profile <name>', `upstream latency profile: ${PROFILE_NAMES.join(', ')}`, profile, 'instant' as ProfileName)
      .option('--concurrency <list>', 'concurrent streams per level, comma-separated', list, [1, 16, 64, 256])
      .option('--requests <n>', 'requests per level and side (default: instant max(200, 4c), glm-4-flash max(20, 2c), glm-4 max(2, c))', positive)
      .option('--database <url>', 'memory:// (PGlite, default) or postgres://… (a throwaway database is created there and dropped)', 'memory://')
      .option('--memories <n>', 'memories seeded for the user first', nonNegative, 10_000)
      .option('--fill-turns <n>', 'turns per session before it is measured (5 fills a window of 10)', nonNegative, 5)
      .option('--window <n>', "the agent's history window, messages (memory.last_messages; 200 with --fill-turns 100: a long session)", positive, 10)
      .option('--working-memory', 'working memory on, with a profile block for the bench user in every prompt')
      .option('--embedder <provider>', "the bench agent's memory.embedder: local (lexical recall) or local-neural", 'local')
      .option('--summaries', 'with --session: rolling summaries on (memory.summary)')
      .option('--no-gaps', 'skip the inter-delta gap runs')
      .option('--out <dir>', 'where the JSON and SVG go', 'bench-results')
      .option(
        '--vary',
        'the measured through requests ask a new, unrelated question each turn, so the predictive recall pool cannot answer and the fresh search runs',
      )
      .option(
        '--soak <seconds>',
        'instead: stream the 20 ms template through agentmem continuously for this long (600 = 10 min) at --concurrency (default 16), sampling memory every 10 s',
        positive,
      )
      .option(
        '--session <turns>',
        'instead: one conversation of this many turns, memory on, each turn direct (a plain client resending its history) and through agentmem; use a prefill profile (glm-4-flash, gpt-4o); --window sets the history window (default 100)',
        positive,
      )
      .option('--tls', 'the emulator serves HTTPS (a self-signed certificate, trusted through NODE_EXTRA_CA_CERTS)')
      .option('--rtt-ms <ms>', 'a network round trip between agentmem and the emulator, paid per round trip, handshakes included', rtt, 0)
      .option(
        '--scope-check <when>',
        "the server's AGENTMEM_SCOPE_CHECK: always (compare each memory scope and kept session with the store per turn), bus-down, auto",
        scopeCheckFlag,
        'auto' as const,
      )
      .option('--json', 'print the JSON result only (no table, no progress)')
      .action((opts: BenchFlags, cmd: Command) => {
        if (opts.tls && !trustedCertificate()) return rerunTrusting().then((code) => process.exit(code));
        const progress = opts.json ? undefined : progressLine();
        if (opts.session !== undefined) return sessionBench(opts, cmd, progress);
        if (opts.soak !== undefined) return soakBench(opts, cmd, progress);
        return overheadBench(opts, progress);
      })
  );
}

interface BenchFlags {
  profile: ProfileName;
  concurrency: number[];
  requests?: number;
  database: string;
  memories: number;
  fillTurns: number;
  window: number;
  workingMemory?: boolean;
  embedder: 'local' | 'local-neural';
  summaries?: boolean;
  gaps: boolean;
  out: string;
  soak?: number;
  session?: number;
  vary?: boolean;
  tls?: boolean;
  rttMs: number;
  scopeCheck: AppConfig['scopeCheck'];
  json?: boolean;
}

type ProgressFn = ((line: string, final?: boolean) => void) & { clear(): void; newline(): void };

/** Progress on stderr: `\r`-updated on a terminal; plain lines (only the final ones) when piped. */
function progressLine(): ProgressFn {
  const tty = process.stderr.isTTY;
  let width = 0;
  const say = (line: string, final?: boolean) => {
    if (tty) {
      process.stderr.write(`\r${line.padEnd(width)}${final ? '\n' : ''}`);
      width = final ? 0 : Math.max(width, line.length);
    } else if (final) {
      process.stderr.write(line + '\n');
    }
  };
  return Object.assign(say, {
    /** wipes the last `\r` line before the report */
    clear: () => void (tty && process.stderr.write(`\r${''.padEnd(width)}\r`)),
    /** ends the `\r` line before an error */
    newline: () => void (tty && process.stderr.write('\n')),
  });
}

/** A run failed: its stack, exit 1. */
function fail(what: string, err: unknown, progress: ProgressFn | undefined): never {
  progress?.newline();
  console.error(`${what}: ${(err as Error).stack ?? err}`);
  process.exit(1);
}

/** The JSON and the SVG in --out, then the JSON (--json) or the text report on stdout; exit 0. */
function finish(opts: BenchFlags, stem: string, result: unknown, svg: string, report: () => string): never {
  const json = JSON.stringify(result, null, 2);
  const dir = resolve(opts.out);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${stem}.json`), json + '\n');
  writeFileSync(join(dir, `${stem}.svg`), svg);
  if (opts.json) process.stdout.write(json + '\n');
  else process.stdout.write(report() + `\n\nwrote ${join(opts.out, stem)}.json and .svg\n`);
  // the in-process servers are closed; anything left (timers, sockets) must not keep us
  process.exit(0);
}

async function sessionBench(opts: BenchFlags, cmd: Command, progress: ProgressFn | undefined): Promise<void> {
  let session;
  try {
    session = await runSessionBench({
      turns: opts.session!,
      profile: opts.profile,
      database: opts.database,
      window: cmd.getOptionValueSource('window') === 'default' ? 100 : opts.window,
      workingMemory: opts.workingMemory,
      summaries: opts.summaries,
      memories: cmd.getOptionValueSource('memories') === 'default' ? 40 : opts.memories,
      progress,
    });
  } catch (err) {
    fail('agentmem bench --session', err, progress);
  }
  const stem = `chat-session-${session.turns.length}-${session.profile}-${session.engine}-${session.date.replace(/[:.]/g, '-')}`;
  finish(opts, stem, session, renderSessionChart(session), () => formatSessionReport(session));
}

async function soakBench(opts: BenchFlags, cmd: Command, progress: ProgressFn | undefined): Promise<void> {
  // one level: the first given, or 16 when --concurrency was not given
  const concurrency = cmd.getOptionValueSource('concurrency') === 'default' ? 16 : opts.concurrency[0]!;
  let soak;
  try {
    soak = await runSoak({ seconds: opts.soak!, concurrency, database: opts.database, memories: opts.memories, fillTurns: opts.fillTurns, progress });
  } catch (err) {
    fail('agentmem bench --soak', err, progress);
  }
  progress?.clear();
  const stem = `chat-soak-c${concurrency}-${soak.engine}-${soak.date.replace(/[:.]/g, '-')}`;
  finish(opts, stem, soak, renderSoakChart(soak), () => formatSoakReport(soak));
}

async function overheadBench(opts: BenchFlags, progress: ProgressFn | undefined): Promise<void> {
  let result;
  try {
    result = await runBench({
      profile: opts.profile,
      concurrency: opts.concurrency,
      requests: opts.requests,
      database: opts.database,
      memories: opts.memories,
      fillTurns: opts.fillTurns,
      window: opts.window,
      workingMemory: opts.workingMemory,
      embedder: opts.embedder,
      gaps: opts.gaps,
      vary: opts.vary,
      tls: opts.tls ? trustedCertificate() : undefined,
      rttMs: opts.rttMs,
      scopeCheck: opts.scopeCheck,
      progress,
    });
  } catch (err) {
    fail('agentmem bench', err, progress);
  }
  progress?.clear();
  const stem = `chat-overhead-${result.profile}-${result.engine}-${result.date.replace(/[:.]/g, '-')}`;
  finish(opts, stem, result, renderChart(result), () => formatReport(result));
}

function scopeCheckFlag(v: string): AppConfig['scopeCheck'] {
  if (!isScopeCheck(v)) throw new InvalidArgumentError('always, bus-down or auto');
  return v;
}

function profile(v: string): ProfileName {
  if (!isProfileName(v)) throw new InvalidArgumentError(`one of ${PROFILE_NAMES.join(', ')}`);
  return v;
}

function rtt(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 10_000) throw new InvalidArgumentError('milliseconds, 0..10000');
  return n;
}

function list(v: string): number[] {
  const xs = v.split(',').map((s) => Number(s.trim()));
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1 || x > 1024)) throw new InvalidArgumentError('integers 1..1024, comma-separated');
  return xs;
}

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}

function nonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a non-negative integer');
  return n;
}
