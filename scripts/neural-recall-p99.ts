// The recall stage with the local neural embedder at 10,000 memories (issue 28): agentmem and
// the upstream emulator in process (the bench's world), the bench agent on `local-neural`,
// 10,000 memories through POST /memories/batch (which answers before their vectors exist),
// then — once the background job has embedded them all — chat turns at each concurrency, each
// a new question (so its embedding is never cached), reading the recall stage from the `done`
// event's timings: p50/p99 of recall, recall_embed, recall_search, and how many turns ranked by
// text alone because the query's vector was late (`skipped.recall_embed = budget`).
//   node --import tsx scripts/neural-recall-p99.ts [--memories 10000] [--turns 200] [--concurrency 1,16]
//     [--database postgres://…] [--no-wait]   (--no-wait: measure while the vectors are still being computed)
import os from 'node:os';
import { parseArgs } from 'node:util';
import { optionPath } from '../src/emulator/options.ts';
import { createBenchAgent, seedMemories, startWorld } from '../src/bench/setup.ts';
import { TEMPLATE_TEXT, variedMessage } from '../src/bench/workload.ts';

const { values: args } = parseArgs({
  options: {
    memories: { type: 'string', default: '10000' },
    turns: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '1,16' },
    database: { type: 'string', default: 'memory://' },
    'no-wait': { type: 'boolean', default: false },
  },
});
const N = Number(args.memories);
const TURNS = Number(args.turns);
const levels = args.concurrency.split(',').map(Number);

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (xs: number[]) => (xs.length ? `p50 ${pct(xs, 50).toFixed(1)} / p99 ${pct(xs, 99).toFixed(1)} ms (n ${xs.length})` : '—');

console.log(`${new Date().toISOString()} ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load average ${load()} — a machine shared with other workers`);
const world = await startWorld({ database: args.database, profile: 'instant' });
try {
  const base = `${world.emulator.url}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: 0 })}/v1`;
  const agent = await createBenchAgent(world, base, { embedder: 'local-neural' });
  const budget = (await world.api('GET', `/api/v1/agents/${agent.id}`)).body.memory.recall_budget_ms;

  let c0 = process.cpuUsage();
  const seeded = await seedMemories(world, agent, N);
  console.log(`seeding ${N} memories answered in ${'ms' in seeded ? (seeded.ms / 1000).toFixed(1) : '?'} s (${cpuMs(process.cpuUsage(c0)).toFixed(0)} ms CPU)`);
  const pending = async () =>
    (await world.app.db.query<{ n: number }>('select count(*)::int as n from memories where agent_id = $1 and vector_pending', [agent.id]))[0]!.n;
  console.log(`vectors pending right after: ${await pending()}`);
  if (!args['no-wait']) {
    const t0 = performance.now();
    c0 = process.cpuUsage();
    for (let left = await pending(), last = 0; left > 0; left = await pending()) {
      if (performance.now() - last > 30_000) {
        console.log(`  ${left} vectors pending after ${((performance.now() - t0) / 1000).toFixed(0)} s (load ${load()})`);
        last = performance.now();
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuMs(process.cpuUsage(c0));
    console.log(
      `all ${N} vectors in after ${wall.toFixed(0)} s wall, ${(cpu / 1000).toFixed(0)} s CPU (${(cpu / N).toFixed(1)} ms CPU per memory, all threads), load ${load()}`,
    );
  }

  let asked = 0;
  for (const c of levels) {
    const rows: Array<{ recall?: number; recall_embed?: number; recall_search?: number; skipped?: Record<string, string> }> = [];
    let failed = 0;
    const turn = async () => {
      const i = asked++;
      const res = await fetch(`${world.app.url}/api/v1/agents/${agent.id}/chat/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${world.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: variedMessage(i), user_id: agent.userId }),
      });
      const text = await res.text();
      const done = text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => JSON.parse(l.slice(6)))
        .find((e) => e.chunk_type === 'done');
      if (res.status !== 200 || !done?.timings) failed++;
      else rows.push(done.timings);
    };
    const t0 = performance.now();
    c0 = process.cpuUsage();
    let started = 0;
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (started++ < TURNS) await turn();
      }),
    );
    const of = (k: 'recall' | 'recall_embed' | 'recall_search') => rows.map((r) => r[k]).filter((v): v is number => typeof v === 'number');
    const late = rows.filter((r) => r.skipped?.recall_embed === 'budget').length;
    const noMemories = rows.filter((r) => r.skipped?.recall === 'budget').length;
    console.log(
      `c=${c}: ${rows.length} turns (${failed} failed) in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(cpuMs(process.cpuUsage(c0)) / Math.max(1, rows.length)).toFixed(1)} ms CPU per turn, load ${load()}; budget ${budget} ms`,
    );
    console.log(`  recall         ${fmt(of('recall'))}`);
    console.log(`  recall_embed   ${fmt(of('recall_embed'))}`);
    console.log(`  recall_search  ${fmt(of('recall_search'))}`);
    console.log(
      `  text alone (query vector late, skipped.recall_embed = budget): ${late} of ${rows.length}; no memories (skipped.recall = budget): ${noMemories}`,
    );
  }
} finally {
  await world.close();
}
