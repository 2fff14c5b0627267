// CPU per chat turn of the agentmem server alone: the server and the emulator run as child
// processes, the client here, so the server's /proc/<pid>/stat (every thread: main, the
// PGlite worker, GC, undici) holds only what agentmem spent; PostgreSQL's processes are
// read the same way. Sequential turns on one session, then a drain until the server is
// quiet, so the background work a turn leaves (extraction, the recall pool) is counted.
//   node --import tsx scripts/cpu-per-turn.ts [--database embedded|memory://|postgres://…] [--turns 300] [--warmup 30]
//     [--memory on|off] [--memories 1000] [--extract 1|2|…|off] [--floor]   (--floor: the plain node:http proxy instead)
//     [--concurrency C] [--workers N]   (N > 1: serve --workers over PostgreSQL + Redis; CPU of every process)
// Also prints the client-side time to first content of the measured turns.
// Compare commits A/B with it; it is the steadiest figure this machine gives.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { postgresCpuMs } from '../src/bench/resources.ts';
import { apiClient } from '../src/bench/api.ts';
import { spawnCli } from '../src/bench/spawn-cli.ts';
import { throwawayDatabase } from '../src/bench/throwaway-db.ts';
import { optionPath } from '../src/emulator/options.ts';
import { CHAT_MESSAGE, memoryText, SYSTEM_PROMPT, TEMPLATE_TEXT } from '../src/bench/workload.ts';

const { values: opts } = parseArgs({
  options: {
    database: { type: 'string', default: 'embedded' }, // embedded: PGlite on disk, as npm start
    turns: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '30' }, // unmeasured turns first: 30 leaves V8's compiler at work in the measure; 1000 is a warm server's steady state
    memory: { type: 'string', default: 'on' },
    memories: { type: 'string', default: '1000' },
    floor: { type: 'boolean', default: false },
    profile: { type: 'string' }, // a directory: the server writes a V8 CPU profile there at exit
    bin: { type: 'string' }, // another entry point (e.g. an older checkout's), for A/B
    strace: { type: 'string' }, // a file: syscall counts of the server during the measured turns (strace -c)
    perf: { type: 'string' }, // a file: `perf record` of the server's every thread (JIT frames named by --perf-basic-prof)
    concurrency: { type: 'string', default: '1' }, // sessions chatting at once (turns are split among them)
    embedder: { type: 'string', default: 'local' }, // memory.embedder: local (lexical recall, issue 27's targets) or local-neural
    extract: { type: 'string', default: '1' }, // memory on: extraction after every N-th exchange (memory.extract.every_turns), or off
    workers: { type: 'string', default: '1' }, // serve --workers N (PostgreSQL + Redis only): CPU of the primary and every worker
  },
});
const TURNS = Number(opts.turns);
const bin = opts.bin ?? new URL('../bin/agentmem.js', import.meta.url).pathname;

/** Starts `node bin/agentmem.js …args` and resolves with the URL it prints once listening. */
async function child(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp, nodeArgs: string[] = []): Promise<{ proc: ChildProcess; url: string }> {
  const { child: proc, url } = await spawnCli(args, { env: { ...process.env, ...env }, listening: pattern, nodeArgs, bin, stderr: 'inherit' });
  children.push(proc);
  return { proc, url };
}

/** utime + stime of a process and its children (serve --workers), all their threads, ms. */
function cpuOf(pid: number): number {
  return cpuOfOne(pid) + childrenOf(pid).reduce((sum, c) => sum + cpuOfOne(c), 0);
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

function cpuOfOne(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** utime + stime per thread of a process, ms, by "name#tid". */
function threadsOf(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${comm}#${t}`, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

async function quiet(pid: number): Promise<void> {
  for (let before = cpuOf(pid), i = 0; i < 75; i++) {
    await sleep(200);
    const now = cpuOf(pid);
    if (now - before <= 4) return;
    before = now;
  }
}

// Children never outlive this script, whatever ends it.
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const emu = await child(['emulate', '--port', '0', '--profile', 'instant'], {}, /emulator listening on (\S+)/);
const upstream = `${emu.url}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: 0 })}/v1`;
const db = opts.database === 'embedded' ? { url: undefined, drop: async () => {} } : await throwawayDatabase(opts.database!);
const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-cpu-'));
const key = 'am_cpu_' + randomBytes(16).toString('hex');
let server: { proc: ChildProcess; url: string };
let chatPath: string;
let body: (session?: string) => unknown;

if (opts.floor) {
  const code = `const { startFloor } = await import(${JSON.stringify(new URL('../src/bench/floor.ts', import.meta.url).pathname)});
    const f = await startFloor(() => ${JSON.stringify(upstream)}); console.log('floor listening on ' + f.url);`;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  server = await new Promise((resolve) =>
    proc.stdout!.on('data', (d: Buffer) => {
      const m = /floor listening on (\S+)/.exec(String(d));
      if (m?.[1]) resolve({ proc, url: m[1] });
    }),
  );
  chatPath = '/chat';
  body = () => ({
    model: 'gpt-emu',
    stream: true,
    messages: [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: CHAT_MESSAGE },
    ],
  });
} else {
  const prof = opts.profile ? ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${opts.profile}`] : opts.perf ? ['--perf-basic-prof'] : [];
  server = await child(
    ['serve'],
    {
      PORT: '0',
      DATABASE_URL: db.url,
      AGENTMEM_DATA_DIR: dataDir,
      AGENTMEM_BOOTSTRAP_KEY: key,
      LOG_LEVEL: 'error',
      AGENTMEM_WORKERS: opts.workers,
      ...(opts.workers !== '1' ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' } : {}),
    },
    /agentmem listening on (\S+)/,
    prof,
  );
  const call = apiClient(server.url, key);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await call(method, path, { body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const on = opts.memory === 'on';
  const agent = await api('POST', '/api/v1/agents', {
    name: 'cpu',
    system_prompt: SYSTEM_PROMPT,
    llm: { provider: 'openai-compatible', model: 'gpt-emu', base_url: upstream, api_key: 'sk-cpu' },
    memory: on
      ? {
          last_messages: 10,
          semantic_recall: { enabled: true, top_k: 5 },
          extract: opts.extract === 'off' ? false : { every_turns: Number(opts.extract) },
          embedder: { provider: opts.embedder },
        }
      : { last_messages: 0, semantic_recall: { enabled: false }, extract: false },
  });
  const n = Number(opts.memories);
  for (let from = 0; on && from < n; from += 2000) {
    const memories = Array.from({ length: Math.min(2000, n - from) }, (_, k) => ({ content: memoryText(from + k), agent_id: agent.id, user_id: 'cpu-user' }));
    await api('POST', '/api/v1/memories/batch', { memories });
  }
  chatPath = `/api/v1/agents/${agent.id}/chat/stream`;
  body = (session) => ({ message: CHAT_MESSAGE, user_id: 'cpu-user', session_id: session });
}

// Client-side time to first content of each measured turn (the first chunk carrying answer text).
const firstContent: number[] = [];
let measuring = false;
const turn = async (session?: string): Promise<string | undefined> => {
  const t0 = performance.now();
  const res = await fetch(server.url + chatPath, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body(session)),
  });
  let text = '';
  let seen = !measuring;
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    if (!seen && /"chunk_type":"content"|"content":"[^"]/.test(text)) {
      seen = true;
      firstContent.push(performance.now() - t0);
    }
  }
  if (res.status !== 200) throw new Error(`chat: ${res.status} ${text}`);
  return /"session_id":"([^"]+)"/.exec(text)?.[1];
};

const C = Number(opts.concurrency);
const sessions: Array<string | undefined> = [];
for (let c = 0; c < C; c++) sessions.push(await turn());
for (let i = 0; i < Number(opts.warmup); i++) await turn(sessions[i % C]);
await quiet(server.proc.pid!);
// The server's event-loop delay (prom-client's, reset at each scrape): read once to start the window.
// Its histogram samples on a 10 ms timer and records each whole interval: the 10 ms is taken off.
const loopDelay = async () => {
  if (opts.floor) return undefined;
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text();
  const v = (name: string) => Math.max(0, Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]) * 1000 - 10);
  return { p50: v('nodejs_eventloop_lag_p50_seconds'), p99: v('nodejs_eventloop_lag_p99_seconds'), max: v('nodejs_eventloop_lag_max_seconds') };
};
await loopDelay();
const tracer = opts.strace ? spawn('strace', ['-c', '-f', '-o', opts.strace, '-p', String(server.proc.pid)], { stdio: 'ignore' }) : undefined;
const perf = opts.perf ? spawn('perf', ['record', '-F', '4000', '-g', '-o', opts.perf, '-p', String(server.proc.pid)], { stdio: 'ignore' }) : undefined;
if (tracer || perf) await sleep(1000);
const s0 = cpuOf(server.proc.pid!);
const th0 = threadsOf(server.proc.pid!);
const p0 = postgresCpuMs();
const t0 = performance.now();
measuring = true;
await Promise.all(
  sessions.map(async (session, c) => {
    for (let i = c; i < TURNS; i += C) await turn(session);
  }),
);
const wall = performance.now() - t0;
measuring = false;
const loop = await loopDelay();
if (tracer) {
  tracer.kill('SIGINT');
  await new Promise((r) => tracer.once('exit', r));
}
await quiet(server.proc.pid!);
if (perf) {
  perf.kill('SIGINT');
  await new Promise((r) => perf.once('exit', r));
}
const s1 = cpuOf(server.proc.pid!);
const th1 = threadsOf(server.proc.pid!);
const p1 = postgresCpuMs();
const what = opts.floor ? 'floor' : `${opts.database!.startsWith('postgres') ? 'postgres' : 'pglite'}, memory ${opts.memory}`;
const pgPart = opts.database!.startsWith('postgres') && p0 !== undefined && p1 !== undefined ? `, PostgreSQL ${((p1 - p0) / TURNS).toFixed(2)} ms/turn` : '';
if (loop) console.log(`  event-loop delay while the turns ran: p50 ${loop.p50.toFixed(2)} ms, p99 ${loop.p99.toFixed(2)} ms, max ${loop.max.toFixed(2)} ms`);
console.log(
  `${what}: ${TURNS} turns (${C} at a time) in ${wall.toFixed(0)} ms; server CPU ${((s1 - s0) / TURNS).toFixed(2)} ms/turn (all threads, drained)${pgPart}`,
);

if (firstContent.length) {
  const sorted = firstContent.sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(1);
  console.log(`  first content (client side): p50 ${at(50)} ms, p90 ${at(90)} ms, p99 ${at(99)} ms`);
}
const perThread = [...th1]
  .map(([k, v]) => [k, (v - (th0.get(k) ?? 0)) / TURNS] as const)
  .filter(([, v]) => v >= 0.05)
  .sort((a, b) => b[1] - a[1]);
console.log('  per thread: ' + perThread.map(([k, v]) => `${k.split('#')[0]} ${v.toFixed(2)}`).join(', '));

if (opts.profile) {
  server.proc.kill('SIGTERM');
  await new Promise((r) => server.proc.once('exit', r));
} else server.proc.kill('SIGKILL');
emu.proc.kill('SIGKILL');
await db.drop();
rmSync(dataDir, { recursive: true, force: true });
