// Clients that stop reading, and a server with a ~4 MB answer to send them, for the
// backpressure tests (test/backpressure.test.ts, test/backpressure-stall.test.ts).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { apiClient, createTestDatabase, spawnServe, type Api } from './harness.ts';
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
export function pausedWs(url: string, agentId: string): Promise<{ ws: WebSocket; first: any; closed: Promise<void>; destroy(): void }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/agents/${agentId}/chat/ws`, { headers: { authorization: `Bearer ${key}` } });
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'chat', ...chat })));
    ws.once('message', (d) => {
      ws.pause();
      resolve({ ws, first: JSON.parse(String(d)), closed, destroy: () => ws.terminate() });
    });
  });
}

/** Reads the rest of a paused native SSE response: the content text and the last event. */
export function readRest(p: { res: IncomingMessage; first: Buffer }): Promise<{ text: string; last: any }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let last: any;
    const parser = createParser({
      onEvent: (e) => {
        last = JSON.parse(e.data);
        if (last.chunk_type === 'content') text += last.content;
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

export const stats = async (emu: Emulator) => (await fetch(`${emu.url}/_emulator/stats`)).json() as Promise<any>;
export const openBytes = async (emu: Emulator): Promise<number[]> => (await stats(emu)).streams.filter((x: any) => x.open).map((x: any) => x.bytes_written);

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
