// Starts a real agentmem on a real socket for a test file, on either engine:
// PGlite in memory, or a throwaway database on the local PostgreSQL.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';
import { startAgentmem, type Agentmem } from '../src/app.ts';
import { apiClient, type Api } from '../src/bench/api.ts';
import { spawnCli } from '../src/bench/spawn-cli.ts';
import { throwawayDatabase, type ThrowawayDatabase } from '../src/bench/throwaway-db.ts';
import { configFromEnv, type AppConfig } from '../src/config.ts';
import { optionPath } from '../src/emulator/options.ts';
import { startEmulator, type Emulator, type EmulatorOptions, type RecordedRequest } from '../src/emulator/server.ts';
import type { Engine } from '../src/store/db.ts';

export { apiClient, type Api };
export { waitFor, type WaitOptions } from './wait.ts';

// `npm test` (scripts/test.mjs) narrows these to what answers on this machine, and says so.
// New agents get the lexical embedder unless a test asks otherwise: the local neural model
// (the product's default when installed) costs a worker and ~1 s of model load per server,
// which only test/local-neural.test.ts needs.
process.env.AGENTMEM_DEFAULT_EMBEDDER ??= 'local';
// Two warm connections per test server, not eight: files run four at once (scripts/test.mjs), some with four
// servers each, on one PostgreSQL of 100 connections.
process.env.AGENTMEM_PG_POOL_MIN ??= '2';

export const engines: Engine[] = (process.env.AGENTMEM_TEST_ENGINES ?? 'pglite,postgres').split(',') as Engine[];
/** The shared Redis for tests; undefined when `npm test` found none (AGENTMEM_TEST_REDIS=none). */
export const testRedis: string | undefined =
  process.env.AGENTMEM_TEST_REDIS === 'none' ? undefined : process.env.AGENTMEM_TEST_REDIS || 'redis://127.0.0.1:6379';
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

const pgliteTemplate = process.env.AGENTMEM_TEST_PGLITE_TEMPLATE;

/**
 * Gives an embedded store's data dir (AGENTMEM_DATA_DIR: the store in its `pgdata`) a copy of
 * the migrated, empty store `npm test` made (test/template-stores.ts), unless it has a store
 * already: a copy opens with ~5 s less CPU than PGlite's initdb and the migrations take. Without
 * a template (a test file run by hand), the server makes its own.
 */
export function seedPglite(dataDir: string): void {
  const pgdata = join(dataDir, 'pgdata');
  if (pgliteTemplate && !existsSync(pgdata)) cpSync(pgliteTemplate, pgdata, { recursive: true });
}

const pgTemplate = process.env.AGENTMEM_TEST_PG_TEMPLATE;
/** The template store's dump (test/template-stores.ts): an in-memory test store starts from it instead of PGlite's initdb. */
const pgliteDump = process.env.AGENTMEM_TEST_PGLITE_DUMP;

/**
 * A fresh database for one test file: memory:// on PGlite (started from the template's dump), a
 * new database on PostgreSQL (a copy of the migrated, empty template `npm test` made, when there
 * is one: test/template-stores.ts).
 */
export async function createTestDatabase(engine: Engine): Promise<ThrowawayDatabase> {
  if (engine === 'pglite') return throwawayDatabase(pgliteDump ? `memory://?from=${encodeURIComponent(pgliteDump)}` : 'memory://');
  if (!pgTemplate) return throwawayDatabase(adminUrl, 'agentmem_test');
  const name = `agentmem_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(sql).finally(() => c.end());
  };
  await admin(`create database ${name} template ${pgTemplate}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}

/** A test server's settings: a loopback port of its own, this data dir and admin key, quiet logs. */
const testConfig = (dataDir: string, bootstrapKey: string): AppConfig => ({
  ...configFromEnv({ AGENTMEM_PG_POOL_MIN: process.env.AGENTMEM_PG_POOL_MIN }),
  port: 0,
  host: '127.0.0.1',
  dataDir,
  bootstrapKey,
  logLevel: process.env.AGENTMEM_TEST_LOG ?? 'silent',
});

export async function startServer(engine: Engine, overrides: Partial<AppConfig> & { databaseUrl?: string } = {}): Promise<TestServer> {
  // (PGlite in memory, started from the template's dump: ~0.6 s of CPU to open, no initdb or
  // migrations. Measured over five query-heavy files (chat, memory, recall, context, foundation):
  // 66.7 s of CPU, against 69.3 s for a copy of the template's data dir and 76 s for PGlite in
  // memory with its initdb.)
  const database = overrides.databaseUrl ? { url: overrides.databaseUrl, drop: async () => {} } : await createTestDatabase(engine);
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'agentmem-test-'));
  const adminKey = 'am_test_' + randomBytes(16).toString('hex');
  const config: AppConfig = { ...testConfig(dataDir, adminKey), ...overrides, databaseUrl: database.url };
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

/**
 * A server that stops and starts again on the same store (PGlite in a kept data dir, or one
 * PostgreSQL database), with the same admin key: what a restart keeps. `drop` removes the store.
 */
export async function restartableServer(engine: Engine): Promise<{ adminKey: string; start(): Promise<Agentmem>; drop(): Promise<void> }> {
  const database = await createTestDatabase(engine);
  const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-restart-'));
  const adminKey = 'am_test_' + randomBytes(16).toString('hex');
  return {
    adminKey,
    start: () => {
      if (engine === 'pglite') seedPglite(dataDir);
      return startAgentmem({ ...testConfig(dataDir, adminKey), databaseUrl: engine === 'postgres' ? database.url : undefined });
    },
    async drop() {
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ServerAndEmulator {
  s: TestServer;
  emu: Emulator;
}

/**
 * The usual suite: one agentmem and one upstream emulator (instant unless told) for the
 * enclosing describe block, started before its tests and closed after them. `set` receives
 * both once they are up: `serverAndEmulator(engine, (w) => ({ s, emu } = w))`.
 */
export function serverAndEmulator(
  engine: Engine,
  set: (w: ServerAndEmulator) => void,
  opts: { server?: Partial<AppConfig>; emulator?: Partial<EmulatorOptions> } = {},
): void {
  let s: TestServer | undefined;
  let emu: Emulator | undefined;
  before(async () => {
    await Promise.all([
      startServer(engine, opts.server).then((x) => (s = x)),
      startEmulator({ port: 0, profile: 'instant', ...opts.emulator }).then((x) => (emu = x)),
    ]);
    set({ s: s!, emu: emu! });
  });
  after(async () => {
    await s?.close();
    await emu?.close();
  });
}

export interface TwoInstances {
  a: TestServer;
  b: TestServer;
  emu: Emulator;
  /** A's admin key on B: one database, one set of keys */
  apiB: Api;
  /** a direct connection to the shared database */
  db: pg.Client;
  /** the config both share (database, Redis and its prefix, secret key): a third instance joins with it */
  shared: Partial<AppConfig> & { databaseUrl: string };
}

/**
 * Two agentmem instances on one throwaway PostgreSQL database and one Redis (a random key
 * prefix), with an emulator, for the enclosing describe block. `redisUrl` is read when the
 * suite starts (a private redis-server started in an earlier `before`).
 */
export function twoInstances(set: (w: TwoInstances) => void, opts: { redisUrl: () => string; secretKey: string; config?: Partial<AppConfig> }): void {
  let w: Partial<TwoInstances> = {};
  let database: ThrowawayDatabase | undefined;
  before(async () => {
    database = await createTestDatabase('postgres');
    const shared = {
      databaseUrl: database.url,
      redisUrl: opts.redisUrl(),
      redisKeyPrefix: `agentmem-test:${randomBytes(4).toString('hex')}:`,
      secretKey: opts.secretKey,
      ...opts.config,
    };
    w.shared = shared;
    await Promise.all([startServer('postgres', shared).then((a) => (w.a = a)), startEmulator({ port: 0, profile: 'instant' }).then((emu) => (w.emu = emu))]);
    w.b = await startServer('postgres', shared);
    w.apiB = apiClient(w.b.url, w.a!.adminKey);
    w.db = new pg.Client({ connectionString: database.url });
    await w.db.connect();
    set(w as TwoInstances);
  });
  after(async () => {
    await w.a?.close();
    await w.b?.close();
    await w.emu?.close();
    await w.db?.end();
    await database?.drop();
  });
}

/** An openai-compatible agent on the emulator that asks for the option segments `o` (text, pacing, faults). */
export async function emulatorAgent(s: TestServer, emu: Emulator, o: Record<string, string | number>, extra: object = {}, key = s.adminKey) {
  const res = await s.api('POST', '/api/v1/agents', {
    key,
    body: {
      name: 'emu',
      llm: { provider: 'openai-compatible', model: 'gpt-emu', base_url: `${emu.url}${optionPath(o)}/v1`, api_key: 'sk-emu', max_retries: 0 },
      ...extra,
    },
  });
  if (res.status !== 201) throw new Error(`creating the agent failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** One message of a chat request agentmem sent upstream in OpenAI's format (a string in these tests' prompts; null beside tool_calls). */
export interface SentMessage {
  role: string;
  content: string;
  name?: string;
  tool_call_id?: string;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  reasoning_content?: string;
}

/** A tool offered upstream in OpenAI's format. */
export interface SentTool {
  type: string;
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

/** The body of a chat request agentmem sent upstream in OpenAI's format. */
export interface SentChat {
  model: string;
  messages: SentMessage[];
  tools?: SentTool[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
  seed?: number;
  thinking?: { type: string };
}

/** A recorded request's body read as an OpenAI chat request (the emulator records bodies as `unknown`). */
export const chatOf = (r: RecordedRequest): SentChat => r.body as SentChat;

/** The upstream chat request of the turn that asked `question` (memory extraction also calls the model). */
export const upstreamFor = (emu: Emulator, question: string) =>
  emu.requests.find((r) => r.path.endsWith('/chat/completions') && chatOf(r).messages.at(-1)!.content === question)!;

/** The upstream chat requests whose prompt carries a message saying `text` (of `role`, when given). */
export const sentWith = (emu: Emulator, text: string, role?: string) =>
  emu.requests.filter((r) => chatOf(r)?.messages?.some((m) => (role === undefined || m.role === role) && m.content === text));

/** A message as the sessions API returns it. */
export interface StoredMessage {
  id: string;
  role: string;
  status: string;
  content: string;
  created_at: string;
  error?: { code: string; message: string };
}

/** A memory as the memories API returns it: listed, found (with a score) or recalled into a metadata event. */
export interface MemoryRow {
  id: string;
  content: string;
  agent_id: string | null;
  user_id: string | null;
  metadata: Record<string, unknown>;
  embedder?: string;
  created_at: string;
}

/** A memory search hit: the memory and its score in [0, 1]. */
export type MemoryHit = MemoryRow & { score: number };

/** One event of a memory's history (`GET /api/v1/memories/:id/history`). */
export interface HistoryEvent {
  event: string;
  old_content: string | null;
  new_content: string | null;
  old_metadata: unknown;
  new_metadata: unknown;
  source: string;
  created_at: string;
}

/** A session's stored messages, oldest first. */
export const messagesOf = async (s: TestServer, sessionId: string) => (await s.api('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data;

/** A JSON chat turn through `api`, and what it sent upstream: the system prompt, then the conversation. */
export async function chatAndSent(emu: Emulator, api: Api, agentId: string, message: string, session_id?: string) {
  const before = emu.requests.length;
  const r = await api('POST', `/api/v1/agents/${agentId}/chat`, { body: { message, ...(session_id ? { session_id } : {}) } });
  if (r.status !== 200) throw new Error(`chat failed: ${r.status} ${JSON.stringify(r.body)}`);
  const sent = chatOf(emu.requests.slice(before).find((q) => chatOf(q)?.messages)!).messages;
  return { sessionId: r.body.session_id as string, system: sent[0]!.content, sent: sent.map((m) => m.content) };
}

/** Creates a second organization through the platform admin; returns its admin key. */
export async function createOrg(api: Api, name: string): Promise<{ id: string; key: string }> {
  const res = await api('POST', '/api/v1/organizations', { body: { name } });
  if (res.status !== 201) throw new Error(`create org failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, key: res.body.api_key.key };
}

/**
 * A chat event as parsed off SSE or a WebSocket: loose JSON on purpose, like `Api`'s bodies
 * (src/bench/api.ts), for a test reads whichever fields of whichever event it asserts on.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one loose boundary for wire events, see above
export type WireEvent = any;

export interface SseFrame {
  id: string | undefined;
  /** the frame's parsed JSON ('[DONE]' for OpenAI's last) */
  data: WireEvent;
}

/** A chat event as a test reads it off SSE or a WebSocket: its kind, the text of content and reasoning events, and the rest unread. */
export interface ChatEventLike {
  chunk_type: string;
  content?: string;
  [field: string]: unknown;
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
  if (res.status !== 200) return { res, frames: [] as SseFrame[], events: [] as WireEvent[], text: '' };
  const frames = await readSse(res);
  const events = frames.map((f) => f.data);
  const text = events
    .filter((e) => e.chunk_type === 'content')
    .map((e) => e.content)
    .join('');
  return { res, frames, events, text };
}

/**
 * Starts the real CLI (`agentmem serve`) as a child process on a free port and waits for
 * its URL. The environment is this one without DATABASE_URL and REDIS_URL, plus `env`.
 */
export function spawnServe(env: Record<string, string | undefined>): Promise<{ child: ChildProcess; url: string }> {
  if (!env.DATABASE_URL && env.AGENTMEM_DATA_DIR) seedPglite(env.AGENTMEM_DATA_DIR);
  return spawnCli(['serve'], { env: { ...process.env, DATABASE_URL: undefined, REDIS_URL: undefined, PORT: '0', LOG_LEVEL: 'warn', ...env } });
}

/** A `skip` reason for tests that run a private redis-server (false when the binary is installed). */
export const needsRedisServer: string | false = spawnSync('redis-server', ['--version']).status !== 0 && 'needs the redis-server binary';

/** A private redis-server on a free port (no persistence), for tests that stop and restart Redis. */
/**
 * A loopback port free now, for a server started later (a Redis brought up mid-test): below the
 * ephemeral range (32768–60999 here), which port 0 and every outgoing connection draw from —
 * with four test files at a time, a port from there was taken by the time Redis started.
 */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer()
        .once('error', () => resolve(false))
        .listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export async function startRedis(port?: number): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  port ??= await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

/** A word of letters only, distinct per n (the analyzer keeps it whole: no digits to split on). */
export const letterWord = (prefix: string, n: number) =>
  prefix +
  n
    .toString(26)
    .split('')
    .map((c) => String.fromCharCode(97 + parseInt(c, 26)))
    .join('');
