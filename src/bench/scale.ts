// `agentmem bench scale`: what an instance keeps in memory as more users are searched.
// N users × M memories (~70 characters each) go into the store in bulk SQL; then the users
// are searched one after another through POST /api/v1/memories/search (agent and user named),
// each for the first time (cold: its scope is read from the store into the index). After
// each step the heap is collected and measured: RSS and heap per touched user level off at
// the memory index's budget (AGENTMEM_MEMORY_INDEX_BYTES, --index-bytes). Warm searches
// (users searched in the step just done) are timed apart.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MEMORY_INDEX_BYTES } from '../memory/bounds.ts';
import { percentile } from './recall/metrics.ts';
import { startWorld, type World } from './setup.ts';

export interface ScaleStep {
  touched_users: number;
  rss_mib: number;
  heap_mib: number;
  /** heap growth since before the first search, per touched user */
  heap_per_user_kib: number;
  /** heap growth per memory kept (the index's scopes × M) */
  heap_per_kept_memory_b: number;
  index_bytes: number;
  index_scopes: number;
  index_evictions: number;
  cold_ms: { p50: number; p99: number };
  warm_ms: { p50: number; p99: number };
}

export interface ScaleBenchResult {
  date: string;
  engine: string;
  store: string;
  users: number;
  memories_per_user: number;
  memory_chars: number;
  index_bytes_budget: number;
  seed_ms: number;
  heap_before_mib: number;
  rss_before_mib: number;
  steps: ScaleStep[];
}

// about 70 characters, a few words varying per user and memory
const memorySql = `'User ' || u || ' mentioned that their ' || (array['sister','friend','colleague','neighbour'])[1 + m % 4]
  || ' enjoys ' || (array['hiking','chess','painting','cycling','baking'])[1 + (u + m) % 5] || ' on day ' || m || ' of trip ' || u % 97`;

function collector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;

export async function runScaleBench(opts: {
  database: string;
  users: number;
  memoriesPerUser: number;
  steps: number;
  indexBytes?: number;
  warmSample?: number;
  onStep?: (s: ScaleStep) => void;
}): Promise<ScaleBenchResult> {
  const gc = collector();
  const world = await startWorld({
    database: opts.database,
    profile: 'instant',
    config: opts.indexBytes ? { memoryIndexBytes: opts.indexBytes } : {},
  });
  try {
    const agent = (await world.api('POST', '/api/v1/agents', { name: 'scale', memory: { extract: false } })).body;
    const { seedMs, chars } = await seedScaleMemories(world, agent.id, opts.users, opts.memoriesPerUser);

    const search = async (u: number) => {
      const t = performance.now();
      const res = await world.api('POST', '/api/v1/memories/search', {
        query: `Which friend enjoys chess on trip ${u % 97}?`,
        agent_id: agent.id,
        user_id: `user${u}`,
      });
      if (res.status !== 200 || !res.body.results.length) throw new Error(`search for user${u}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      return performance.now() - t;
    };
    await search(opts.users - 1); // warms the process (connections, compiled code)
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    const steps: ScaleStep[] = [];
    let touched = 0;
    for (let step = 1; step <= opts.steps; step++) {
      const until = Math.round((opts.users * step) / opts.steps);
      const cold: number[] = [];
      const first = touched;
      for (; touched < until; touched++) cold.push(await search(touched));
      const warm: number[] = [];
      const sample = Math.min(opts.warmSample ?? 200, touched - first);
      for (let i = 0; i < sample; i++) warm.push(await search(touched - 1 - i));
      gc();
      // measured before the /metrics read allocates
      const mem = process.memoryUsage();
      const s = stepFigures(touched, heap0, mem, opts.memoriesPerUser, cold, warm, await indexStats(world.app.url, world.adminKey));
      steps.push(s);
      opts.onStep?.(s);
    }
    return {
      date: new Date().toISOString(),
      engine: world.engine,
      store: world.store,
      users: opts.users,
      memories_per_user: opts.memoriesPerUser,
      memory_chars: Math.round(chars),
      index_bytes_budget: opts.indexBytes ?? MEMORY_INDEX_BYTES,
      seed_ms: Math.round(seedMs),
      heap_before_mib: mib(heap0),
      rss_before_mib: mib(rss0),
      steps,
    };
  } finally {
    await world.close();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

/** N users × M memories in bulk SQL (chunks of ~50,000 rows), then analyzed. */
async function seedScaleMemories(world: World, agentId: string, users: number, perUser: number): Promise<{ seedMs: number; chars: number }> {
  const db = world.app.db;
  const orgId = (await db.query<{ org_id: string }>('select org_id from agents where id = $1', [agentId]))[0]!.org_id;
  const t0 = performance.now();
  const perChunk = Math.max(1, Math.floor(50_000 / perUser));
  for (let from = 0; from < users; from += perChunk) {
    await db.query(
      `insert into memories (id, org_id, agent_id, user_id, content, metadata, created_at, updated_at)
       select gen_random_uuid(), $1, $2, 'user' || u, ${memorySql}, '{}'::jsonb, now(), now()
       from generate_series($3::int, $4::int) u, generate_series(0, $5::int - 1) m`,
      [orgId, agentId, from, Math.min(users, from + perChunk) - 1, perUser],
    );
  }
  await db.query('analyze memories');
  const seedMs = performance.now() - t0;
  const chars = (await db.query<{ c: number }>('select avg(length(content))::float8 as c from memories'))[0]!.c;
  return { seedMs, chars };
}

/** One step's figures from the memory measured right after a collection. */
function stepFigures(
  touched: number,
  heap0: number,
  mem: NodeJS.MemoryUsage,
  perUser: number,
  cold: number[],
  warm: number[],
  stats: { bytes: number; entries: number; evictions: number },
): ScaleStep {
  return {
    touched_users: touched,
    rss_mib: mib(mem.rss),
    heap_mib: mib(mem.heapUsed),
    heap_per_user_kib: Math.round(((mem.heapUsed - heap0) / touched / 1024) * 100) / 100,
    heap_per_kept_memory_b: stats.entries ? Math.round((mem.heapUsed - heap0) / (stats.entries * perUser)) : 0,
    index_bytes: stats.bytes,
    index_scopes: stats.entries,
    index_evictions: stats.evictions,
    cold_ms: { p50: round(percentile(cold, 50)), p99: round(percentile(cold, 99)) },
    warm_ms: { p50: round(percentile(warm, 50)), p99: round(percentile(warm, 99)) },
  };
}

/** The memory index's figures, as /metrics gives them. */
async function indexStats(url: string, key: string): Promise<{ bytes: number; entries: number; evictions: number }> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text();
  const read = (name: string) => Number(new RegExp(`^${name}\\{structure="memory_index"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    bytes: read('agentmem_memory_bound_bytes'),
    entries: read('agentmem_memory_bound_entries'),
    evictions: read('agentmem_memory_bound_evictions_total'),
  };
}

export function formatScaleReport(r: ScaleBenchResult): string {
  const lines = [
    `bench scale: ${r.users} users × ${r.memories_per_user} memories (~${r.memory_chars} characters), ${r.store}, index budget ${mib(r.index_bytes_budget)} MiB`,
    `seeded in ${r.seed_ms} ms; before the first search: heap ${r.heap_before_mib} MiB, RSS ${r.rss_before_mib} MiB`,
    '',
    '| users searched | RSS MiB | heap MiB | heap / user searched | heap / kept memory | index bytes (scopes, evicted) | cold search p50 / p99 ms | warm p50 / p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of r.steps)
    lines.push(
      `| ${s.touched_users} | ${s.rss_mib} | ${s.heap_mib} | ${s.heap_per_user_kib} KiB | ${s.heap_per_kept_memory_b} B | ${mib(s.index_bytes)} MiB (${s.index_scopes}, ${s.index_evictions}) | ${s.cold_ms.p50} / ${s.cold_ms.p99} | ${s.warm_ms.p50} / ${s.warm_ms.p99} |`,
    );
  return lines.join('\n');
}
