// Sustained streaming load: `--concurrency` clients each streaming one chat after another
// for `--seconds`, through a real agentmem (a child process, the embedded default
// unless --database-url) to the upstream emulator (in this process) pacing the
// template answer: 64 deltas of 16 bytes, 20 ms apart (tokens_per_s=50).
//
// Checks every stream: no error, the reassembled text equals the template byte for byte,
// one content frame per upstream delta (none dropped, merged or reordered), SSE ids 1..n.
// Records the server's own overhead per stream (done.timings.first_byte −
// upstream_ttfb: everything agentmem does before and around the model's first token)
// and the server's resident memory, sampled every second from /metrics.
//
//   node --import tsx scripts/load.ts [--seconds 300] [--concurrency 256]
//        [--tokens-per-s 50] [--deltas 64] [--warmup 5] [--database-url postgres://…] [--json]
//
// Exits 1 when any stream failed a check.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
import { Agent, request } from 'undici';
import { startEmulator } from '../src/emulator/server.ts';
import { tokenize } from '../src/emulator/tokens.ts';

export interface LoadOptions {
  seconds: number;
  concurrency: number;
  tokensPerS: number;
  deltas: number;
  /** streams started in the first `warmupSeconds` are checked but left out of the latency figures */
  warmupSeconds: number;
  /** PostgreSQL; default: the embedded PGlite in a fresh data dir */
  databaseUrl?: string;
  log?: (line: string) => void;
}

export interface LoadReport {
  date: string;
  machine: { cpus: number; model: string; node: string };
  options: Omit<LoadOptions, 'log'>;
  store: string;
  streams: number;
  /** streams in the latency figures (after the warm-up) */
  measuredStreams: number;
  failures: number;
  /** failure kind → count (error codes, text_mismatch, delta_count, id_sequence, transport) */
  failureKinds: Record<string, number>;
  firstFailures: string[];
  streamsPerS: number;
  deltasPerS: number;
  overheadMs: Percentiles;
  clientTtfbMs: Percentiles;
  upstreamTtfbMs: Percentiles;
  streamMs: Percentiles;
  /** the server's (sampled p99 per second) and this process's (client + emulator) event-loop delay */
  eventLoopDelayMs: { serverP99: Percentiles; loadProcess: { p50: number; p99: number; max: number } };
  rssMiB: { start: number; p50: number; max: number; end: number; samples: number };
}

type Percentiles = { p50: number; p90: number; p99: number; max: number };

const KEY = `am_load_${randomBytes(12).toString('hex')}`;

/** The template answer: `deltas` tokens of exactly 16 UTF-8 bytes (ASCII and 2-byte letters). */
export function templateText(deltas: number): { text: string; tokens: string[] } {
  const parts: string[] = [];
  for (let i = 0; i < deltas; i++) parts.push(`d${String(i % 1000).padStart(3, '0')}-é${'ü'.repeat(3)}ö `); // 5 + 10 + 1 = 16 bytes
  const text = parts.join('');
  const tokens = tokenize(text);
  if (tokens.length !== deltas || tokens.some((t) => Buffer.byteLength(t) !== 16)) throw new Error('template: expected every token to be 16 bytes');
  return { text, tokens };
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const log = opts.log ?? (() => {});
  const { text } = templateText(opts.deltas);
  const emu = await startEmulator({ port: 0, profile: 'instant' });
  const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-load-'));
  let server: { child: ChildProcess; url: string } | undefined;
  const clients = new Agent({ connections: opts.concurrency + 8, keepAliveTimeout: 30_000 });
  try {
    server = await serve(opts.databaseUrl, dataDir);
    log(`agentmem ${server.url} (${opts.databaseUrl ? 'PostgreSQL' : `PGlite in ${dataDir}`}), emulator ${emu.url}`);
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await request(server!.url + path, {
        method: method as 'POST',
        dispatcher: clients,
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.body.json()) as any;
      if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
      return json;
    };
    const gap = opts.tokensPerS > 0 ? 1000 / opts.tokensPerS : 0;
    const options = `/~text=${encodeURIComponent(text)}/~tokens_per_s=${opts.tokensPerS}/~first_token_ms=${gap}`;
    const agent = await api('POST', '/api/v1/agents', {
      name: 'load',
      llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: `${emu.url}${options}/v1`, api_key: 'sk-load' },
      // Streaming is under test: no extraction job per turn (it would ask the emulator too).
      memory: { extract: false },
    });

    // Resident memory of the server, from its own /metrics.
    // And its event-loop delay (p99 over prom-client's window), to read the latencies by.
    const rss: number[] = [];
    const serverLagP99: number[] = [];
    const sampleRss = async () => {
      const res = await request(`${server!.url}/metrics`, { dispatcher: clients });
      const text = await res.body.text();
      const m = /^process_resident_memory_bytes (\S+)$/m.exec(text);
      if (m) rss.push(Number(m[1]) / 2 ** 20);
      const lag = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
      if (lag) serverLagP99.push(Number(lag[1]) * 1000);
    };
    const clientLag = monitorEventLoopDelay({ resolution: 10 });
    await sampleRss();

    const overhead: number[] = [];
    const clientTtfb: number[] = [];
    const upstreamTtfb: number[] = [];
    const streamMs: number[] = [];
    const failureKinds: Record<string, number> = {};
    const firstFailures: string[] = [];
    let streams = 0;
    let measuredStreams = 0;
    const fail = (kind: string, detail: string) => {
      failureKinds[kind] = (failureKinds[kind] ?? 0) + 1;
      if (firstFailures.length < 10) firstFailures.push(`${kind}: ${detail.slice(0, 300)}`);
    };

    async function oneStream(n: number): Promise<void> {
      const t0 = performance.now();
      const measured = t0 >= warm;
      let firstAt: number | undefined;
      const ids: number[] = [];
      const contents: string[] = [];
      let done: any;
      let error: any;
      try {
        const res = await request(`${server!.url}/api/v1/agents/${agent.id}/chat/stream`, {
          method: 'POST',
          dispatcher: clients,
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: `load ${n}` }),
        });
        if (res.statusCode !== 200) {
          fail(`http_${res.statusCode}`, await res.body.text());
          return;
        }
        const parser = createParser({
          onEvent(e) {
            ids.push(Number(e.id));
            const data = JSON.parse(e.data);
            if (data.chunk_type === 'content') {
              firstAt ??= performance.now();
              contents.push(data.content);
            } else if (data.chunk_type === 'done') done = data;
            else if (data.chunk_type === 'error') error = data;
          },
        });
        const decoder = new TextDecoder();
        for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
      } catch (err) {
        fail('transport', String(err));
        return;
      }
      streams++;
      if (error || !done) return fail(error?.code ?? 'no_done', JSON.stringify(error ?? {}));
      if (!ids.every((id, i) => id === i + 1)) return fail('id_sequence', ids.join(','));
      if (contents.join('') !== text) return fail('text_mismatch', contents.join(''));
      if (contents.length !== opts.deltas) return fail('delta_count', `${contents.length} content frames for ${opts.deltas} deltas`);
      if (!measured) return;
      measuredStreams++;
      overhead.push(done.timings.first_byte - done.timings.upstream_ttfb);
      upstreamTtfb.push(done.timings.upstream_ttfb);
      clientTtfb.push(firstAt! - t0);
      streamMs.push(performance.now() - t0);
    }

    const started = performance.now();
    const deadline = started + opts.seconds * 1000;
    const warm = started + opts.warmupSeconds * 1000;
    let next = 0;
    clientLag.enable();
    const sampler = setInterval(() => void sampleRss().catch(() => {}), 1_000);
    const progress = setInterval(() => log(`${((performance.now() - started) / 1000).toFixed(0)} s: ${streams} streams, ${Object.values(failureKinds).reduce((a, b) => a + b, 0)} failures, rss ${rss.at(-1)?.toFixed(0)} MiB`), 30_000);
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (performance.now() < deadline) await oneStream(next++);
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    clearInterval(sampler);
    clearInterval(progress);
    clientLag.disable();
    await sampleRss();

    const failures = Object.values(failureKinds).reduce((a, b) => a + b, 0);
    const sortedRss = [...rss].sort((a, b) => a - b);
    return {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', node: process.version },
      options: { seconds: opts.seconds, concurrency: opts.concurrency, tokensPerS: opts.tokensPerS, deltas: opts.deltas, warmupSeconds: opts.warmupSeconds, databaseUrl: opts.databaseUrl && '(given)' },
      store: opts.databaseUrl ? 'postgres' : 'pglite (embedded default)',
      streams,
      measuredStreams,
      failures,
      failureKinds,
      firstFailures,
      streamsPerS: round(streams / elapsed),
      deltasPerS: round((streams * opts.deltas) / elapsed),
      overheadMs: percentiles(overhead),
      clientTtfbMs: percentiles(clientTtfb),
      upstreamTtfbMs: percentiles(upstreamTtfb),
      streamMs: percentiles(streamMs),
      eventLoopDelayMs: {
        serverP99: percentiles(serverLagP99),
        loadProcess: { p50: round(clientLag.percentile(50) / 1e6), p99: round(clientLag.percentile(99) / 1e6), max: round(clientLag.max / 1e6) },
      },
      rssMiB: { start: round(rss[0] ?? NaN), p50: round(sortedRss[Math.floor(sortedRss.length / 2)] ?? NaN), max: round(sortedRss.at(-1) ?? NaN), end: round(rss.at(-1) ?? NaN), samples: rss.length },
    };
  } finally {
    await clients.close().catch(() => {});
    if (server) await stop(server.child);
    await emu.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

function percentiles(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => round(s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(s.at(-1) ?? NaN) };
}

/** `agentmem serve` as a child process (the real CLI), on a free port. */
async function serve(databaseUrl: string | undefined, dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const env: NodeJS.ProcessEnv = { ...process.env, AGENTMEM_DATA_DIR: dataDir, AGENTMEM_BOOTSTRAP_KEY: KEY, PORT: '0', LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'AGENTMEM_RATE_LIMIT', 'AGENTMEM_ORG_RATE_LIMIT']) delete env[k];
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  const child = spawn(process.execPath, [join(root, 'bin/agentmem.js'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (d) => {
      out += d;
      if (out.length > 100_000) out = out.slice(-50_000);
    });
    child.once('exit', (code) => reject(new Error(`agentmem exited (${code}): ${out}`)));
  });
  child.stdout!.resume();
  return { child, url };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

export function formatReport(r: LoadReport): string {
  const p = (x: Percentiles) => `p50 ${x.p50}  p90 ${x.p90}  p99 ${x.p99}  max ${x.max}`;
  return [
    `${r.date}  ${r.machine.cpus} cpus (${r.machine.model}), node ${r.machine.node}, store ${r.store}`,
    `${r.options.concurrency} concurrent streams for ${r.options.seconds} s, ${r.options.deltas} deltas × 16 B at ${r.options.tokensPerS} tokens/s`,
    `streams ${r.streams}  failures ${r.failures}${r.failures ? ` ${JSON.stringify(r.failureKinds)}` : ''}  (${r.streamsPerS} streams/s, ${r.deltasPerS} deltas/s)`,
    `latency figures over the ${r.measuredStreams} streams started after a ${r.options.warmupSeconds} s warm-up:`,
    `overhead ms (first_byte − upstream_ttfb)  ${p(r.overheadMs)}`,
    `client first content ms                  ${p(r.clientTtfbMs)}`,
    `upstream ttfb ms                         ${p(r.upstreamTtfbMs)}`,
    `whole stream ms                          ${p(r.streamMs)}`,
    `event-loop delay ms: server (p99 per sample) ${p(r.eventLoopDelayMs.serverP99)}; load process p50 ${r.eventLoopDelayMs.loadProcess.p50} p99 ${r.eventLoopDelayMs.loadProcess.p99} max ${r.eventLoopDelayMs.loadProcess.max}`,
    `server rss MiB  start ${r.rssMiB.start}  p50 ${r.rssMiB.p50}  max ${r.rssMiB.max}  end ${r.rssMiB.end}  (${r.rssMiB.samples} samples)`,
    ...r.firstFailures.map((f) => `  ! ${f}`),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '300' },
      concurrency: { type: 'string', default: '256' },
      'tokens-per-s': { type: 'string', default: '50' },
      deltas: { type: 'string', default: '64' },
      warmup: { type: 'string', default: '5' },
      'database-url': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const report = await runLoad({
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    tokensPerS: Number(values['tokens-per-s']),
    deltas: Number(values.deltas),
    warmupSeconds: Number(values.warmup),
    databaseUrl: values['database-url'],
    log: (line) => console.error(`# ${line}`),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  process.exit(report.failures ? 1 : 0);
}
