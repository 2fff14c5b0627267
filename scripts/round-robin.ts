// Round-robin against sticky routing (issue 26): two agentmem instances on one PostgreSQL and
// one Redis (in this process, each on its own loopback port; real sockets), one agent on the
// simulated model (no delay), two users with the same 1,000 memories each. A block of
// `--turns` streamed turns in one session is sent either all to A (sticky) or alternating
// A, B, A, … (round-robin); blocks of the two kinds alternate `--rounds` times, so a loaded
// machine weighs on both alike. Each turn's recall time is read from its `done` event's
// timings (trace/timings.ts); prints per block p50/p90 of recall (and history), the medians of
// the block p50s per kind, and the bus messages per round-robin turn by kind.
//   npx tsx scripts/round-robin.ts [--turns 20] [--rounds 6] [--memories 1000] [--embedder local|local-neural]
//   (DATABASE admin: AGENTMEM_TEST_PG, default postgres://postgres@127.0.0.1:5432/postgres; REDIS_URL, default redis://127.0.0.1:6379)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startAgentmem, type Agentmem } from '../src/app.ts';
import { apiClient } from '../src/bench/api.ts';
import { throwawayDatabase } from '../src/bench/throwaway-db.ts';
import { configFromEnv } from '../src/config.ts';

const { values } = parseArgs({
  options: {
    turns: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '6' },
    memories: { type: 'string', default: '1000' },
    // the hashing embedder: a neural one's query embedding (the same in both kinds) would bury a 1 ms difference
    embedder: { type: 'string', default: 'local' },
  },
});
const turns = Number(values.turns);
const rounds = Number(values.rounds);
const memoryCount = Number(values.memories);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const adminUrl = process.env.AGENTMEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);

/** One streamed turn; its `done` timings. */
async function turn(url: string, key: string, agentId: string, body: object): Promise<{ session: string; timings: Record<string, number> }> {
  const res = await fetch(`${url}/api/v1/agents/${agentId}/chat/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const events = text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)));
  const done = events.find((e) => e.chunk_type === 'done');
  if (!done) throw new Error(`no done event: ${text.slice(0, 300)}`);
  return { session: events[0].session_id, timings: done.timings };
}

const words = ['tea', 'chess', 'rust', 'piano', 'hiking', 'sushi', 'paris', 'cats', 'jazz', 'yoga', 'coffee', 'tennis', 'python', 'berlin', 'dogs', 'opera'];
const fact = (i: number) => `The user mentioned ${words[i % words.length]} and ${words[(i * 7) % words.length]} on occasion ${i}, item ${i * 31}.`;
const question = (i: number) => `What do you remember about ${words[i % words.length]} and ${words[(i * 3) % words.length]}?`;

const database = await throwawayDatabase(adminUrl, 'agentmem_rr');
const dataDirs: string[] = [];
const apps: Agentmem[] = [];
const bootstrapKey = 'am_rr_' + randomBytes(12).toString('hex');
const prefix = `agentmem-rr:${randomBytes(4).toString('hex')}:`;
const start = async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-rr-'));
  dataDirs.push(dataDir);
  const app = await startAgentmem({
    ...configFromEnv({}),
    port: 0,
    host: '127.0.0.1',
    dataDir,
    bootstrapKey,
    logLevel: 'silent',
    databaseUrl: database.url,
    redisUrl,
    redisKeyPrefix: prefix,
    secretKey: 'round-robin-secret',
  });
  apps.push(app);
  return app;
};
const listener = new Redis(redisUrl);
try {
  const a = await start();
  const b = await start();
  const api = apiClient(a.url, bootstrapKey);
  const agent = (
    await api('POST', '/api/v1/agents', {
      body: {
        name: 'rr',
        llm: { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } },
        memory: { embedder: { provider: values.embedder } },
      },
    })
  ).body;
  for (const user of ['sticky', 'rr']) {
    for (let i = 0; i < memoryCount; i += 500) {
      const batch = Array.from({ length: Math.min(500, memoryCount - i) }, (_, j) => ({ content: fact(i + j) }));
      const r = await api('POST', '/api/v1/memories/batch', { body: { agent_id: agent.id, user_id: user, memories: batch } });
      if (r.status >= 300) throw new Error(`memories: ${r.status} ${JSON.stringify(r.body)}`);
    }
  }
  // Bus messages by kind, counted during the round-robin blocks.
  let counting = false;
  const kinds: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  await listener.subscribe(`${prefix}invalidate`);
  listener.on('message', (_c: string, raw: string) => {
    const k = (JSON.parse(raw) as { k: string }).k;
    if (counting && k !== 'beat') {
      kinds[k] = (kinds[k] ?? 0) + 1;
      bytes[k] = (bytes[k] ?? 0) + raw.length;
    }
  });

  const sessions: Record<string, string | undefined> = {};
  const blocks: Array<{ kind: string; recall: number[]; history: number[]; search: number[] }> = [];
  // One warm-up block of each kind (caches, indexes, JIT), not counted.
  for (let r = -1; r < rounds; r++) {
    for (const kind of r % 2 === 0 ? ['sticky', 'rr'] : ['rr', 'sticky']) {
      const recall: number[] = [];
      const history: number[] = [];
      const search: number[] = [];
      counting = kind === 'rr' && r >= 0;
      for (let i = 0; i < turns; i++) {
        const to = kind === 'rr' && i % 2 === 1 ? b : a;
        const t = await turn(to.url, bootstrapKey, agent.id, { message: question(i + r * turns), user_id: kind, session_id: sessions[kind] });
        sessions[kind] = t.session;
        recall.push(t.timings.recall ?? NaN);
        history.push(t.timings.history ?? NaN);
        search.push(t.timings.recall_search ?? NaN);
      }
      counting = false;
      if (r >= 0) blocks.push({ kind, recall, history, search });
      if (r >= 0)
        console.log(
          `round ${r} ${kind.padEnd(6)} recall p50 ${median(recall).toFixed(2)} p90 ${quantile(recall, 0.9).toFixed(2)} ms (search p50 ${median(search).toFixed(2)}); history p50 ${median(history).toFixed(2)} ms`,
        );
    }
  }
  const of = (kind: string, f: (b: (typeof blocks)[number]) => number) => median(blocks.filter((b) => b.kind === kind).map(f));
  const summary = Object.fromEntries(
    ['sticky', 'rr'].map((kind) => [
      kind,
      {
        recall_p50: +of(kind, (b) => median(b.recall)).toFixed(2),
        recall_p90: +of(kind, (b) => quantile(b.recall, 0.9)).toFixed(2),
        recall_search_p50: +of(kind, (b) => median(b.search)).toFixed(2),
        history_p50: +of(kind, (b) => median(b.history)).toFixed(3),
      },
    ]),
  );
  const rrTurns = rounds * turns;
  console.log(
    JSON.stringify({
      turns,
      rounds,
      memories: memoryCount,
      medians_of_block: summary,
      bus_messages_per_rr_turn: Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, +(n / rrTurns).toFixed(2)])),
      bus_bytes_per_message: Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, Math.round(bytes[k]! / n)])),
    }),
  );
} finally {
  await listener.quit().catch(() => {});
  for (const app of apps) await app.close().catch(() => {});
  await database.drop().catch(() => {});
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
}
