// Recall latency over 100k memories of one user, on PGlite and PostgreSQL.
//   node --import tsx scripts/bench-recall.ts
// Env: BENCH_ENGINES=pglite,postgres  BENCH_MEMORIES=100000  BENCH_QUERIES=300
//      AGENTMEM_TEST_PG=postgres://postgres@127.0.0.1:5432/postgres (a throwaway database is created there)
// Memories go in through the service (batches of 10,000, as POST /memories/batch does);
// recall runs as the chat runs it: createRecall with the agent's default config.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import os from 'node:os';
import { throwawayDatabase } from '../src/bench/throwaway-db.ts';
import { agentConfig } from '../src/agent/config.ts';
import { createEmbedders } from '../src/memory/embedders/index.ts';
import { createMemories } from '../src/memory/memories.ts';
import { createMemorySearch, createRecall, EXACT_SCAN_MAX } from '../src/memory/recall.ts';
import type { Engine } from '../src/store/db.ts';
import { openStore } from '../src/store/open.ts';
import { insertAgent } from '../src/store/repos/agents.ts';
import { createOrganization } from '../src/store/repos/organizations.ts';
import { createTimings, type TimingsJSON } from '../src/trace/timings.ts';

const engines = (process.env.BENCH_ENGINES ?? 'pglite,postgres').split(',') as Engine[];
const N = Number(process.env.BENCH_MEMORIES ?? 100_000);
const Q = Number(process.env.BENCH_QUERIES ?? 300);
const adminUrl = process.env.AGENTMEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SMALL_USERS = 200;
const SMALL_EACH = 25;

// ---- deterministic synthetic memories and questions ----
let seed = 7;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
const things =
  'coffee tea sushi pizza pasta ramen tacos curry chocolate cheese bread wine jazz rock techno opera chess tennis football running hiking cycling swimming yoga painting guitar piano violin photography gardening baking poetry history physics python rust kubernetes postgres linux cats dogs horses birds'.split(
    ' ',
  );
const places =
  'Berlin Paris London Tokyo Madrid Rome Vienna Prague Lisbon Oslo Dublin Warsaw Athens Seoul Beijing Shanghai Toronto Boston Chicago Denver Austin Seattle Sydney'.split(
    ' ',
  );
const people = 'sister brother mother father wife husband son daughter friend boss colleague neighbour cousin'.split(' ');
const names = 'Anna Ben Carla David Eva Felix Greta Hans Ines Jonas Klara Leon Mia Noah Olga Paul Rosa Sven'.split(' ');
const zh = '咖啡 茶 寿司 火锅 饺子 面条 跑步 游泳 音乐 电影 北京 上海 柏林 东京'.split(' ');
const templates = [
  () => `I like ${pick(things)} and ${pick(things)}`,
  () => `My ${pick(people)} ${pick(names)} lives in ${pick(places)}`,
  () => `I travelled to ${pick(places)} last ${pick(['spring', 'summer', 'autumn', 'winter'])}`,
  () => `My favourite ${pick(['food', 'drink', 'sport', 'hobby', 'music'])} is ${pick(things)}`,
  () => `I use ${pick(things)} every day at the office in ${pick(places)}`,
  () => `${pick(names)} gave me a book about ${pick(things)}`,
  () => `我喜欢${pick(zh)}和${pick(zh)}`,
  () => `Meeting with ${pick(names)} about ${pick(things)} on ${pick(['Monday', 'Tuesday', 'Friday'])}`,
];
const memoryText = (i: number) => `${pick(templates)()} (note ${i})`;
const questions = [
  () => `What is my favourite ${pick(['food', 'drink', 'sport', 'hobby'])}?`,
  () => `Where does my ${pick(people)} live?`,
  () => `Do I like ${pick(things)}?`,
  () => `What happened in ${pick(places)}?`,
  () => `Who gave me the book about ${pick(things)}?`,
  () => `我喜欢${pick(zh)}吗？`,
];

async function openEngine(engine: Engine) {
  if (engine === 'pglite') {
    // On disk, like the default `npm start` (./.agentmem), in a throwaway directory.
    const dir = mkdtempSync(join(tmpdir(), 'agentmem-bench-'));
    return { db: await openStore(undefined, dir), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const database = await throwawayDatabase(adminUrl, 'agentmem_bench');
  return { db: await openStore(database.url, '/tmp'), drop: database.drop };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const f = (ms: number) => ms.toFixed(2);

async function bench(engine: Engine) {
  const { db, drop } = await openEngine(engine);
  try {
    const org = await createOrganization(db, 'bench');
    const config = agentConfig.parse({});
    const agent = await insertAgent(db, org.id, { name: 'bench', description: null, config, secrets: null, metadata: {} });
    const embedderFor = createEmbedders();
    const search = createMemorySearch(db);
    const memories = createMemories({ db, loadAgent: async () => ({ config }), embedderFor, search });

    // First, into the empty table, the same count as many small writers send it: batches of
    // 100, another user (a plan cached while the table was small and kept as it grows — the
    // history trigger's once — shows here, not in one big batch).
    let i = 0;
    const t1 = performance.now();
    for (let done = 0; done < N; done += 100) {
      const batch = Array.from({ length: Math.min(100, N - done) }, () => ({ content: memoryText(i++), agent_id: agent.id, user_id: 'trickle' }));
      await memories.addMany(org.id, batch);
    }
    const trickleMs = performance.now() - t1;
    // The small users next, so the big user's rows are not all the table (filters matter).
    const small = Array.from({ length: SMALL_USERS * SMALL_EACH }, (_, k) => ({
      content: memoryText(i++),
      agent_id: agent.id,
      user_id: `small-${k % SMALL_USERS}`,
    }));
    await memories.addMany(org.id, small);
    const t0 = performance.now();
    for (let done = 0; done < N; done += 10_000) {
      const batch = Array.from({ length: Math.min(10_000, N - done) }, () => ({ content: memoryText(i++), agent_id: agent.id, user_id: 'big' }));
      await memories.addMany(org.id, batch);
    }
    const importMs = performance.now() - t0;

    const ready = { id: agent.id, org_id: org.id, config };
    const run = async (recall: ReturnType<typeof createRecall>, userId: string) => {
      const rows: TimingsJSON[] = [];
      const found: number[] = [];
      for (let q = 0; q < 20; q++) await recall(ready, userId, pick(questions)(), createTimings()); // warm-up
      for (let q = 0; q < Q; q++) {
        const timings = createTimings();
        found.push((await recall(ready, userId, `${pick(questions)()} #${q}`, timings)).length);
        rows.push(timings.toJSON());
      }
      const col = (k: 'recall' | 'recall_embed' | 'recall_search') => rows.map((r) => r[k] ?? 0);
      const skipped = rows.filter((r) => r.skipped?.recall).length;
      return {
        p50: pct(col('recall'), 50),
        p95: pct(col('recall'), 95),
        p99: pct(col('recall'), 99),
        embed: pct(col('recall_embed'), 50),
        search: pct(col('recall_search'), 50),
        skipped,
        found: pct(found, 50),
      };
    };
    // A generous budget so nothing is cut off: we measure the work itself.
    const unbounded = { ...config, memory: { ...config.memory, recall_budget_ms: 60_000 } };
    ready.config = unbounded;
    const recall = createRecall(search, embedderFor);
    const exactOnly = createRecall(createMemorySearch(db, { exactScanMax: Number.MAX_SAFE_INTEGER }), embedderFor);
    const results = {
      [`big user, ${N.toLocaleString('en')} memories (HNSW)`]: await run(recall, 'big'),
      [`big user, no index (exact vector scan, text walks the rows)`]: await run(exactOnly, 'big'),
      [`small user, ${SMALL_EACH} memories (exact)`]: await run(recall, 'small-7'),
    };
    return { engine, importMs, trickleMs, results };
  } finally {
    await db.close();
    await drop();
  }
}

console.log(
  `recall bench: ${N.toLocaleString('en')} memories of one user + ${SMALL_USERS * SMALL_EACH} of ${SMALL_USERS} others, ${Q} queries each, top_k 5, exact scan up to ${EXACT_SCAN_MAX} memories`,
);
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
for (const engine of engines) {
  const r = await bench(engine);
  console.log(
    `\n${engine}: import ${(r.importMs / 1000).toFixed(1)} s (${((N / r.importMs) * 1000).toFixed(0)} memories/s, embedding + insert + HNSW + GIN); in batches of 100: ${(r.trickleMs / 1000).toFixed(1)} s`,
  );
  console.log('| case | recall p50 | p95 | p99 | embed p50 | search p50 | results | over budget |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, x] of Object.entries(r.results)) {
    console.log(`| ${name} | ${f(x.p50)} ms | ${f(x.p95)} ms | ${f(x.p99)} ms | ${f(x.embed)} ms | ${f(x.search)} ms | ${x.found} | ${x.skipped} |`);
  }
}
