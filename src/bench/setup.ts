// The bench's world: the upstream emulator and agentmem in this process, on a
// throwaway store (PGlite in memory, or a new database on a PostgreSQL server that is
// dropped afterwards), an agent with memory on, and a user with seeded memories.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgentmem, type Agentmem } from '../app.ts';
import { configFromEnv, type AppConfig } from '../config.ts';
import type { EmulatorOptions, ProfileName } from '../emulator/server.ts';
import { startEmulatorThread, type EmulatorThread } from './emulator-thread.ts';
import { redactUrl } from '../store/postgres/index.ts';
import { apiClient, type ApiAnswer } from './api.ts';
import { throwawayDatabase } from './throwaway-db.ts';
import { memoryText, SYSTEM_PROMPT, WORKING_MEMORY } from './workload.ts';

export interface World {
  /** in a worker thread of its own: the main thread is agentmem's */
  emulator: EmulatorThread;
  app: Agentmem;
  adminKey: string;
  engine: string;
  /** where the store lives, secrets removed */
  store: string;
  /** the admin key's JSON API client (bench/api.ts), with a body to send */
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  close(): Promise<void>;
}

/** `config`: settings beside the defaults (e.g. a memory bound for `bench scale`). */
export async function startWorld(opts: {
  database?: string;
  profile: ProfileName;
  network?: Pick<EmulatorOptions, 'tls' | 'rttMs'>;
  config?: Partial<AppConfig>;
}): Promise<World> {
  const db = await throwawayDatabase(opts.database ?? 'memory://', 'agentmem_bench');
  const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-bench-'));
  const adminKey = 'am_bench_' + randomBytes(16).toString('hex');
  let emulator: EmulatorThread | undefined;
  let app: Agentmem | undefined;
  const cleanup = async () => {
    await app?.close();
    await emulator?.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    emulator = await startEmulatorThread({ port: 0, profile: opts.profile, ...opts.network });
    app = await startAgentmem({
      ...configFromEnv({}),
      port: 0,
      host: '127.0.0.1',
      dataDir,
      databaseUrl: db.url,
      bootstrapKey: adminKey,
      logLevel: process.env.LOG_LEVEL ?? 'error',
      ...opts.config,
    });
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
  const api = apiClient(app.url, adminKey);
  return {
    emulator,
    app,
    adminKey,
    engine: app.db.engine,
    store: db.url === 'memory://' ? 'PGlite (memory://)' : `PostgreSQL ${redactUrl(db.url)}`,
    api: (method, path, body) => api(method, path, { body }),
    close: cleanup,
  };
}

export interface BenchAgent {
  id: string;
  userId: string;
}

export interface BenchAgentShape {
  /** memory.last_messages: the history window (default 10) */
  window?: number;
  /** working memory on, with a profile block set for the bench user */
  workingMemory?: boolean;
  /** rolling summaries on (memory.summary), at their default trigger */
  summaries?: boolean;
  /** memory.embedder's provider: local (lexical recall, the default here) or local-neural */
  embedder?: 'local' | 'local-neural';
}

/** The bench agent: openai-compatible on the emulator, window 10, recall and extraction on. */
export async function createBenchAgent(world: World, baseUrl: string, shape: BenchAgentShape = {}): Promise<BenchAgent> {
  const res = await world.api('POST', '/api/v1/agents', {
    name: 'bench',
    system_prompt: SYSTEM_PROMPT,
    // a 128k window, as today's OpenAI-family models have: a long session's window fits whole
    llm: { provider: 'openai-compatible', model: 'gpt-emu', base_url: baseUrl, api_key: 'sk-bench', max_context_tokens: 128_000 },
    memory: {
      last_messages: shape.window ?? 10,
      semantic_recall: { enabled: true, top_k: 5 },
      extract: true,
      embedder: { provider: shape.embedder ?? 'local' },
      ...(shape.workingMemory ? { working: { enabled: true } } : {}),
      ...(shape.summaries ? { summary: { enabled: true } } : {}),
    },
    streaming: { text_buffer_size: 1 },
  });
  if (res.status !== 201) throw new Error(`creating the bench agent failed: ${res.status} ${JSON.stringify(res.body)}`);
  const agent = { id: res.body.id, userId: 'bench-user' };
  if (shape.workingMemory) {
    const put = await world.api('PUT', `/api/v1/agents/${agent.id}/working-memory/${agent.userId}`, { content: WORKING_MEMORY });
    if (put.status !== 200) throw new Error(`setting the bench user's working memory failed: ${put.status} ${JSON.stringify(put.body)}`);
  }
  return agent;
}

/** Points the agent at another emulator option path (pacing, answer text). */
export async function setBaseUrl(world: World, agent: BenchAgent, baseUrl: string): Promise<void> {
  const res = await world.api('PATCH', `/api/v1/agents/${agent.id}`, { llm: { base_url: baseUrl } });
  if (res.status !== 200) throw new Error(`updating the bench agent failed: ${res.status} ${JSON.stringify(res.body)}`);
  // An update drops the cached agent: load it again now (an invalid session id is
  // answered 404 right after the agent lookup, with no upstream call), so no measured
  // request pays the reload.
  await world.api('POST', `/api/v1/agents/${agent.id}/chat/stream`, { message: 'x', session_id: 'warm-agent-cache' });
}

export type SeedResult = { seeded: number; ms: number } | { seeded: 0; skipped: string };

/** `count` memories of the bench user through POST /api/v1/memories/batch. */
export async function seedMemories(world: World, agent: BenchAgent, count: number, onProgress?: (done: number) => void): Promise<SeedResult> {
  const t0 = performance.now();
  const BATCH = 2_000;
  let seeded = 0;
  for (let from = 0; from < count; from += BATCH) {
    const memories = Array.from({ length: Math.min(BATCH, count - from) }, (_, k) => ({
      content: memoryText(from + k),
      agent_id: agent.id,
      user_id: agent.userId,
      metadata: { source: 'bench', n: from + k },
    }));
    const res = await world.api('POST', '/api/v1/memories/batch', { memories });
    if (res.status === 404 && seeded === 0)
      return { seeded: 0, skipped: `POST /api/v1/memories/batch answered 404 (${res.body?.error?.message ?? 'no route'})` };
    if (res.status !== 201) throw new Error(`seeding memories failed: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    seeded += memories.length;
    onProgress?.(seeded);
  }
  return { seeded, ms: performance.now() - t0 };
}

/** `seedMemories` with its progress said, and a note when the server could not take them. */
export async function seedWithProgress(world: World, agent: BenchAgent, count: number, say: (line: string, final?: boolean) => void): Promise<SeedResult> {
  say(`seeding ${count} memories…`);
  const memories: SeedResult =
    count > 0 ? await seedMemories(world, agent, count, (n) => say(`seeding memories ${n}/${count}`)) : { seeded: 0, skipped: '--memories 0' };
  if ('skipped' in memories) say(`NOTE: memories not seeded: ${memories.skipped}`, true);
  return memories;
}
