// Clients that stop reading, and a server with a ~4 MB answer to send them, for the
// backpressure tests (test/backpressure.test.ts, test/backpressure-stall.test.ts).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { apiClient, createTestDatabase, spawnServe, streamChat, type Api, type ChatEventLike, type StoredMessage } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

export const key = 'am_backpressure_key_0123456789abcdef';
export const PIECE = 'Backpressure stalledreads flowcontrol '; // 39 bytes, 3 tokens (the emulator's longest words)
export const REPEAT = 108_000; // 4.2 MB
export const ANSWER_BYTES = PIECE.length * REPEAT;
export const MiB = 1024 * 1024;

export const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
export const chat = { message: 'a long answer please', user_id: 'bp' };

/** A request whose response is read up to its first body chunk, then paused (its socket is no longer read). */
export function pausedPost(url: string, path: string, body: object): Promise<{ res: IncomingMessage; first: Buffer; destroy(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: 'POST', agent: false, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        res.once('data', (first: Buffer) => {
          res.pause();
          resolve({ res, first, destroy: () => req.destroy() });
        });
      },
    );
    req.on('error', () => {});
    req.end(JSON.stringify(body));
  });
}

/** A WebSocket chat turn, paused after its first event. */
export function pausedWs(url: string, agentId: string): Promise<{ ws: WebSocket; first: ChatEventLike; closed: Promise<void>; destroy(): void }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/agents/${agentId}/chat/ws`, { headers: { authorization: `Bearer ${key}` } });
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'chat', ...chat })));
    ws.once('message', (d) => {
      ws.pause();
      resolve({ ws, first: JSON.parse(String(d)) as ChatEventLike, closed, destroy: () => ws.terminate() });
    });
  });
}

/** Reads the rest of a paused native SSE response: the content text and the last event. */
export function readRest(p: { res: IncomingMessage; first: Buffer }): Promise<{ text: string; last: ChatEventLike | undefined }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let last: ChatEventLike | undefined;
    const parser = createParser({
      onEvent: (e) => {
        const event = JSON.parse(e.data) as ChatEventLike;
        last = event;
        if (event.chunk_type === 'content') text += event.content;
      },
    });
    const decoder = new TextDecoder();
    parser.feed(decoder.decode(p.first, { stream: true }));
    p.res.on('data', (d: Buffer) => parser.feed(decoder.decode(d, { stream: true })));
    p.res.once('end', () => resolve({ text, last }));
    p.res.once('error', reject);
    p.res.resume();
  });
}

/** The emulator's `/_emulator/stats`, the part these measures read: each streamed answer's bytes written, and whether it is still open. */
export interface EmulatorStats {
  streams_waiting: number;
  streams: Array<{ bytes_written: number; drain_waits: number; waiting: boolean; open: boolean }>;
}

export const stats = async (emu: Emulator) => (await fetch(`${emu.url}/_emulator/stats`)).json() as Promise<EmulatorStats>;
export const openBytes = async (emu: Emulator): Promise<number[]> => (await stats(emu)).streams.filter((x) => x.open).map((x) => x.bytes_written);

/** A server (child process) on `engine` with an agent whose answer is ~4 MB, over the emulator. */
export async function setup(engine: 'pglite' | 'postgres', env: Record<string, string>) {
  const database = await createTestDatabase(engine);
  const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-backpressure-'));
  const emu = await startEmulator({ port: 0 });
  const a = await spawnServe({
    DATABASE_URL: engine === 'postgres' ? database.url : undefined,
    AGENTMEM_DATA_DIR: dataDir,
    AGENTMEM_BOOTSTRAP_KEY: key,
    ...env,
  });
  const api = apiClient(a.url, key);
  const base = `${emu.url}${optionPath({ text: PIECE, repeat: REPEAT })}/v1`;
  const agentId: string = (
    await api('POST', '/api/v1/agents', { body: { name: 'long', llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: base, api_key: 'sk' } } })
  ).body.id;
  return {
    url: a.url,
    child: a.child,
    api,
    emu,
    agentId,
    async close() {
      a.child.kill('SIGKILL');
      await emu.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The session's last message; undefined until the session is stored. */
export const lastMessage = async (api: Api, sessionId: string) => (await api('GET', `/api/v1/sessions/${sessionId}/messages`)).body?.data?.at(-1);

/** Reads a paused response to its end and discards it; resolves with the bytes read. */
export function drain(p: { res: IncomingMessage }): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    p.res.on('data', (d: Buffer) => (n += d.length));
    p.res.once('end', () => resolve(n));
    p.res.once('error', reject);
    p.res.resume();
  });
}

/** Reads a paused WebSocket turn to its last event (`done` or `error`). */
export function drainWs(p: { ws: WebSocket }): Promise<ChatEventLike> {
  return new Promise((resolve) => {
    p.ws.on('message', (d) => {
      const e = JSON.parse(String(d)) as ChatEventLike;
      if (e.chunk_type === 'done' || e.chunk_type === 'error') resolve(e);
    });
    p.ws.resume();
  });
}

export interface PausedMeasure {
  engine: string;
  /** ordinary turns running at a time beside the paused clients */
  load: number;
  /** RSS right after start and one ordinary turn, MiB */
  baselineMiB: number;
  /** the highest RSS over the pause (50 ms samples) minus the baseline, MiB */
  peakGrowthMiB: number;
  /** ms from the first request until every upstream write waited and stood still */
  pausedAfterMs: number;
  /** what each upstream had written when it stood still, MiB */
  upstreamMiB: number[];
  /** what a whole answer's upstream writes (the longest closed stream), MiB */
  wholeMiB: number;
  /** ms the resumed clients took to read the rest */
  readMs: number;
  /** ordinary turns completed beside the paused clients */
  loadTurns: number;
}

/**
 * What an outsider measures: the server (real CLI, child process) starts, runs one ordinary
 * turn, its RSS is the baseline; four clients (native SSE, WebSocket, OpenAI-compatible, UI
 * stream) ask for the ~4.2 MB answer and stop reading after the first bytes; RSS is sampled
 * every 50 ms from the first request until every upstream write has waited and stood still,
 * then `holdMs` more. `load` ordinary turns run at a time beside it all. Then the SSE client
 * (`readAll`: all four) reads again: it must get the whole answer, stored whole.
 */
export async function measurePausedClients(
  engine: 'pglite' | 'postgres',
  opts: { load?: number; holdMs?: number; readAll?: boolean; env?: Record<string, string> } = {},
): Promise<PausedMeasure> {
  const load = opts.load ?? 0;
  const s = await setup(engine, { AGENTMEM_STREAM_STALL_MS: '600000', ...opts.env });
  const clients: Array<{ destroy(): void }> = [];
  let sampler: ReturnType<typeof setInterval> | undefined;
  let loading = false;
  const loaders: Promise<void>[] = [];
  try {
    const short = (
      await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'short',
          llm: {
            provider: 'openai-compatible',
            model: 'gpt-4o-mini',
            base_url: `${s.emu.url}${optionPath({ text: 'A short and ordinary answer.' })}/v1`,
            api_key: 'sk',
          },
        },
      })
    ).body.id as string;
    const ordinary = async (n: number) => {
      const r = await streamChat({ url: s.url, adminKey: key }, short, { message: `hello ${n}`, user_id: `u${n % 8}` });
      if (r.text !== 'A short and ordinary answer.') throw new Error(`an ordinary turn failed: ${r.res.status} ${r.text.slice(0, 80)}`);
    };
    await ordinary(0);
    const pid = s.child.pid!;
    const baseline = rssOf(pid);
    let peak = baseline;
    sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
    let loadTurns = 0;
    loading = true;
    for (let i = 0; i < load; i++)
      loaders.push(
        (async () => {
          for (let n = 1; loading; n++) await ordinary(i * 1_000_000 + n).then(() => loadTurns++);
        })(),
      );

    const t0 = Date.now();
    const sse = await pausedPost(s.url, `/api/v1/agents/${s.agentId}/chat/stream`, chat);
    const ws = await pausedWs(s.url, s.agentId);
    const oai = await pausedPost(s.url, '/v1/chat/completions', { model: s.agentId, stream: true, messages: [{ role: 'user', content: chat.message }] });
    const ui = await pausedPost(s.url, `/api/v1/agents/${s.agentId}/chat/ui`, {
      messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: chat.message }] }],
    });
    clients.push(sse, ws, oai, ui);
    const sessions = [
      JSON.parse(/data: (.*)\n/.exec(sse.first.toString())![1]!).session_id,
      ws.first.session_id,
      oai.res.headers['x-session-id'],
      ui.res.headers['x-session-id'],
    ] as string[];

    // Paused: all four upstream writes wait for 'drain' and their counts stand still for a second.
    let still = false;
    let upstream: number[] = [];
    const long = async () => (await openBytes(s.emu)).filter((b) => b > MiB);
    while (!still && Date.now() - t0 < 180_000) {
      const before = (await long()).join();
      await sleep(1_000);
      upstream = await long();
      still = (await stats(s.emu)).streams_waiting === 4 && upstream.length === 4 && upstream.join() === before;
    }
    if (!still) throw new Error(`the upstream writes did not stop: ${upstream.map((b) => (b / MiB).toFixed(1)).join(', ')} MiB`);
    const pausedAfterMs = Date.now() - t0;
    await sleep(opts.holdMs ?? 3_000);
    clearInterval(sampler);
    sampler = undefined;
    loading = false;
    await Promise.all(loaders);

    // They read again (`readAll`: all four, else the SSE one; the others hang up): the whole
    // answer, byte for byte, and it is stored whole.
    const t1 = Date.now();
    const rest = await readRest(sse);
    if (rest.text !== PIECE.repeat(REPEAT)) throw new Error(`the resumed SSE client got ${rest.text.length} of ${ANSWER_BYTES} chars`);
    if (opts.readAll) {
      const [wsLast] = await Promise.all([drainWs(ws), drain(oai), drain(ui)]);
      if (wsLast.chunk_type !== 'done') throw new Error(`the resumed WebSocket ended with ${JSON.stringify(wsLast)}`);
    }
    const readMs = Date.now() - t1;
    for (const session of opts.readAll ? sessions : sessions.slice(0, 1)) {
      let stored: StoredMessage | undefined;
      for (const t2 = Date.now(); Date.now() - t2 < 60_000; await sleep(250)) {
        stored = await lastMessage(s.api, session);
        if (stored && stored.status !== 'streaming') break;
      }
      if (stored?.status !== 'complete' || stored.content !== PIECE.repeat(REPEAT))
        throw new Error(`session ${session} stored ${stored?.status} with ${stored?.content?.length} chars`);
    }
    return {
      engine,
      load,
      baselineMiB: +(baseline / MiB).toFixed(1),
      peakGrowthMiB: +((peak - baseline) / MiB).toFixed(1),
      pausedAfterMs,
      upstreamMiB: upstream.map((b) => +(b / MiB).toFixed(1)),
      wholeMiB: +(Math.max(...(await stats(s.emu)).streams.map((x) => x.bytes_written)) / MiB).toFixed(1),
      readMs,
      loadTurns,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    loading = false;
    await Promise.allSettled(loaders);
    for (const c of clients) c.destroy();
    await s.close();
  }
}
