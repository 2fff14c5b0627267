// Starts a real agentmem on a real socket for a test file, on either engine:
// PGlite in memory, or a throwaway database on the local PostgreSQL.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startAgentmem, type Agentmem } from '../src/app.ts';
import { configFromEnv, type AppConfig } from '../src/config.ts';
import type { Engine } from '../src/store/db.ts';

// `npm test` (scripts/test.mjs) narrows these to what answers on this machine, and says so.
export const engines: Engine[] = (process.env.AGENTMEM_TEST_ENGINES ?? 'pglite,postgres').split(',') as Engine[];
/** The shared Redis for tests; undefined when `npm test` found none (AGENTMEM_TEST_REDIS=none). */
export const testRedis: string | undefined = process.env.AGENTMEM_TEST_REDIS === 'none' ? undefined : process.env.AGENTMEM_TEST_REDIS || 'redis://127.0.0.1:6379';
/** A `skip` reason for tests that need the shared Redis (false when it is there). */
export const needsRedis: string | false = !testRedis && 'needs Redis (AGENTMEM_TEST_REDIS)';
const adminUrl = process.env.AGENTMEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestServer {
  url: string;
  adminKey: string;
  app: Agentmem;
  dataDir: string;
  databaseUrl: string;
  api: Api;
  close(): Promise<void>;
}

export type Api = (method: string, path: string, opts?: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> }) => Promise<{ status: number; body: any; headers: Headers }>;

/** A fresh database for one test file: memory:// on PGlite, a new database on PostgreSQL. */
export async function createTestDatabase(engine: Engine): Promise<{ url: string; drop(): Promise<void> }> {
  if (engine === 'pglite') return { url: 'memory://', drop: async () => {} };
  const name = `agentmem_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function startServer(engine: Engine, overrides: Partial<AppConfig> & { databaseUrl?: string } = {}): Promise<TestServer> {
  const database = overrides.databaseUrl ? { url: overrides.databaseUrl, drop: async () => {} } : await createTestDatabase(engine);
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'agentmem-test-'));
  const adminKey = 'am_test_' + randomBytes(16).toString('hex');
  const config: AppConfig = {
    ...configFromEnv({}),
    port: 0,
    host: '127.0.0.1',
    dataDir,
    bootstrapKey: adminKey,
    logLevel: process.env.AGENTMEM_TEST_LOG ?? 'silent',
    ...overrides,
    databaseUrl: database.url,
  };
  const app = await startAgentmem(config);
  const url = app.url;
  const api = apiClient(url, adminKey);
  return {
    url,
    adminKey,
    app,
    dataDir,
    databaseUrl: database.url,
    api,
    async close() {
      await app.close();
      await database.drop();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function apiClient(url: string, defaultKey: string): Api {
  return async (method, path, opts = {}) => {
    const key = opts.key === undefined ? defaultKey : opts.key;
    const headers: Record<string, string> = { ...opts.headers };
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

/** Creates a second organization through the platform admin; returns its admin key. */
export async function createOrg(api: Api, name: string): Promise<{ id: string; key: string }> {
  const res = await api('POST', '/api/v1/organizations', { body: { name } });
  if (res.status !== 201) throw new Error(`create org failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, key: res.body.api_key.key };
}

export interface SseFrame {
  id: string | undefined;
  data: any;
}

/** Reads a whole SSE response with eventsource-parser (not a hand-written parser). */
export async function readSse(res: Response, onFrame?: (f: SseFrame) => void): Promise<SseFrame[]> {
  const { EventSourceParserStream } = await import('eventsource-parser/stream');
  const frames: SseFrame[] = [];
  const stream = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const msg of stream as unknown as AsyncIterable<{ id?: string; data: string }>) {
    const frame = { id: msg.id, data: msg.data === '[DONE]' ? '[DONE]' : JSON.parse(msg.data) };
    frames.push(frame);
    onFrame?.(frame);
  }
  return frames;
}

/** POSTs a chat to the SSE endpoint and reads every frame. */
export async function streamChat(s: { url: string; adminKey: string }, agentId: string, body: object, key = s.adminKey) {
  const res = await fetch(`${s.url}/api/v1/agents/${agentId}/chat/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) return { res, frames: [] as SseFrame[], events: [] as any[], text: '' };
  const frames = await readSse(res);
  const events = frames.map((f) => f.data);
  const text = events.filter((e) => e.chunk_type === 'content').map((e) => e.content).join('');
  return { res, frames, events, text };
}

/**
 * Starts the real CLI (`agentmem serve`) as a child process on a free port and waits for
 * its URL. The environment is this one without DATABASE_URL and REDIS_URL, plus `env`.
 */
export async function spawnServe(env: Record<string, string | undefined>): Promise<{ child: ChildProcess; url: string }> {
  const full: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: undefined, REDIS_URL: undefined, PORT: '0', LOG_LEVEL: 'warn', ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const child = spawn(process.execPath, ['bin/agentmem.js', 'serve'], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`agentmem exited (${code}): ${out}`)));
  });
  return { child, url };
}

/** A `skip` reason for tests that run a private redis-server (false when the binary is installed). */
export const needsRedisServer: string | false = spawnSync('redis-server', ['--version']).status !== 0 && 'needs the redis-server binary';

/** A private redis-server on a free port (no persistence), for tests that stop and restart Redis. */
export async function startRedis(port?: number): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const { createServer } = await import('node:net');
  if (!port) {
    port = await new Promise<number>((resolve, reject) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
      probe.once('error', reject);
    });
  }
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
