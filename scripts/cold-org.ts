// Cold scopes in a large organization, as an operator meets them after a restart (issue 26,
// item 2): N memories in one organization (bulk SQL; 20 per user), the server restarted (every
// index cold), one turn to warm the process, then C other users' first turns at once with the
// agent's default recall budget. Per turn: the recall stage (done.timings), whether it was
// skipped, and whether the user's own memory reached the prompt (the emulator's record).
//   node --import tsx scripts/cold-org.ts [--database postgres://…] [--memories 500000] [--concurrency 16] [--rounds 2] [--embedder local|local-neural] [--keep]
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { apiClient } from '../src/bench/api.ts';
import { spawnCli } from '../src/bench/spawn-cli.ts';
import { throwawayDatabase } from '../src/bench/throwaway-db.ts';
import { percentile } from '../src/bench/stats.ts';
import { startEmulator, type RecordedRequest } from '../src/emulator/server.ts';

const { values: opts } = parseArgs({
  options: {
    database: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    memories: { type: 'string', default: '500000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' }, // restarts, each with C new users' first turns
    embedder: { type: 'string', default: 'local' }, // the agent's memory.embedder: local (lexical recall) or local-neural (the default for new agents)
    keep: { type: 'boolean', default: false }, // keep the database (its URL printed) to look into it
  },
});
const TOTAL = Number(opts.memories);
const C = Number(opts.concurrency);
const PER_USER = 20;
const USERS = TOTAL / PER_USER;

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const emu = await startEmulator({ port: 0, profile: 'instant' });
const db = await throwawayDatabase(opts.database!);
const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-cold-'));
const key = 'am_cold_' + randomBytes(16).toString('hex');
const env = { ...process.env, PORT: '0', DATABASE_URL: db.url, AGENTMEM_DATA_DIR: dataDir, AGENTMEM_BOOTSTRAP_KEY: key, LOG_LEVEL: 'error' };
const start = async () => {
  const { child, url } = await spawnCli(['serve'], { env, listening: /agentmem listening on (\S+)/, stderr: 'inherit' });
  children.push(child);
  return { child, url };
};
const stop = (c: ChildProcess) => new Promise((resolve) => (c.kill('SIGTERM'), c.once('exit', resolve)));

let server = await start();
const api = apiClient(server.url, key);
const agent = await api('POST', '/api/v1/agents', {
  body: {
    name: 'cold-org',
    llm: { provider: 'openai-compatible', model: 'gpt-4o', base_url: `${emu.url}/v1`, api_key: 'sk-emu', max_retries: 0 },
    memory: { extract: false, embedder: { provider: opts.embedder } }, // the default recall budget
  },
});
if (agent.status !== 201) throw new Error(JSON.stringify(agent.body));
const client = new pg.Client({ connectionString: db.url });
await client.connect();
const orgId = (await client.query('select org_id from agents where id = $1', [agent.body.id])).rows[0].org_id as string;
const t0 = performance.now();
for (let from = 0; from < TOTAL; from += 100_000) {
  await client.query(
    `insert into memories (id, org_id, agent_id, user_id, content, metadata, created_at, updated_at)
     select gen_random_uuid(), $1, $2, 'user' || (g % $3),
       case when g < $3 then 'User ' || g || ' keeps a hobby named hobby' || g
            else 'Note ' || g || ' about the weather, the garden and topic ' || (g % 97) end,
       '{}'::jsonb, now(), now()
     from generate_series($4::int, $5::int - 1) g`,
    [orgId, agent.body.id, USERS, from, Math.min(TOTAL, from + 100_000)],
  );
}
await client.query('analyze memories');
console.log(`${TOTAL} memories (${USERS} users × ${PER_USER}) seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

/** The messages an upstream request carried, as JSON text. */
const messagesOf = (r: RecordedRequest) => JSON.stringify((r.body as { messages?: unknown } | null | undefined)?.messages ?? '');

const turn = async (url: string, k: number) => {
  const res = await fetch(`${url}/api/v1/agents/${agent.body.id}/chat/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message: `Which hobby do I keep? hobby${k}`, user_id: `user${k}` }),
  });
  const text = await res.text();
  const done = JSON.parse(/data: (\{"chunk_type":"done".*)\n/.exec(text)?.[1] ?? '{}');
  const question = `Which hobby do I keep? hobby${k}`;
  // not followed by a digit: "hobby1561" is a prefix of "hobby15618", another user's question
  const asked = new RegExp(`${question.replace('?', '\\?')}(?!\\d)`);
  const sent = emu.requests.find((r) => asked.test(messagesOf(r)));
  const found = sent !== undefined && new RegExp(`hobby named hobby${k}\\b`).test(messagesOf(sent));
  if (process.env.COLD_TIMINGS) console.log(JSON.stringify(done.timings));
  return { recall: done.timings?.recall as number, skipped: done.timings?.skipped?.recall as string | undefined, found };
};

const all: Array<Awaited<ReturnType<typeof turn>>> = [];
for (let round = 0; round < Number(opts.rounds); round++) {
  await stop(server.child);
  server = await start();
  await turn(server.url, USERS - 1 - round); // warms the process, not the users measured
  const picked = Array.from({ length: C }, (_, i) => Math.floor(((i + round / Number(opts.rounds)) * (USERS - 10)) / C));
  const results = await Promise.all(picked.map((k) => turn(server.url, k)));
  all.push(...results);
  console.log(
    `round ${round + 1}: recall ms ${results.map((r) => r.recall?.toFixed(0)).join(', ')}; skipped ${results.filter((r) => r.skipped).length}; own memory in the prompt ${results.filter((r) => r.found).length}/${C}`,
  );
}
const recalls = all.map((r) => r.recall).filter((x) => typeof x === 'number');
console.log(
  `${TOTAL} memories, ${C} first turns at once × ${opts.rounds} restarts: recall p50 ${percentile(
    recalls.sort((a, b) => a - b),
    50,
  ).toFixed(
    0,
  )} ms, max ${Math.max(...recalls).toFixed(0)} ms; skipped ${all.filter((r) => r.skipped).length}/${all.length}; with the user's memory ${all.filter((r) => r.found).length}/${all.length}`,
);
await client.end();
await stop(server.child);
await emu.close();
if (opts.keep) console.log(`kept: ${db.url}`);
else await db.drop();
rmSync(dataDir, { recursive: true, force: true });
