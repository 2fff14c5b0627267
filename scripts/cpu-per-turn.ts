// CPU per chat turn, one process, sequential turns: agentmem, the emulator and this client
// share the main thread, so the figure is the whole turn's (compare commits with it, A/B;
// it is not agentmem's alone — `agentmem bench` subtracts the direct side for that).
//   node --import tsx scripts/cpu-per-turn.ts [database: memory:// | postgres://…] [turns: 200]
// 1,000 seeded memories, one session warmed by 21 turns, then `turns` measured turns and
// a 5 s drain for the background work they leave; per thread from /proc/self/task.
export {};
import { readdirSync, readFileSync } from 'node:fs';
import { startWorld, createBenchAgent, seedMemories } from '../src/bench/setup.ts';
import { optionPath, TEMPLATE_TEXT, CHAT_MESSAGE } from '../src/bench/workload.ts';
const threads = () => {
  const out = new Map<string, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const comm = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * 10;
      out.set(`${comm}#${t}`, ms);
    } catch {}
  }
  return out;
};
const w = await startWorld({ database: process.argv[2] ?? 'memory://', profile: 'instant' });
const base = `${w.emulator.url}${optionPath({ text: TEMPLATE_TEXT, first_token_ms: 0, tokens_per_s: 0 })}/v1`;
const agent = await createBenchAgent(w, base);
await seedMemories(w, agent, 1000, () => {});
const turn = async (session?: string) => {
  const res = await fetch(`${w.app.url}/api/v1/agents/${agent.id}/chat/stream`, { method: 'POST', headers: { authorization: `Bearer ${w.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: CHAT_MESSAGE, user_id: agent.userId, session_id: session }) });
  const text = await res.text();
  return /"session_id":"([^"]+)"/.exec(text)?.[1];
};
let s = await turn();
for (let i = 0; i < 20; i++) await turn(s);
await new Promise((r) => setTimeout(r, 3000));
const N = Number(process.argv[3] ?? 200);
const t0 = threads(); const c0 = process.cpuUsage(); const start = performance.now();
for (let i = 0; i < N; i++) await turn(s);
const mid = performance.now();
await new Promise((r) => setTimeout(r, 5000));
const c1 = process.cpuUsage(c0); const t1 = threads();
console.log(`turns ${N} in ${(mid - start).toFixed(0)} ms; user ${(c1.user / 1000 / N).toFixed(2)} sys ${(c1.system / 1000 / N).toFixed(2)} ms/turn (5 s drain incl.)`);
const rows = [...t1].map(([k, v]) => [k, v - (t0.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
for (const [k, v] of rows) console.log(k.padEnd(24), (v / N).toFixed(2), 'ms/turn');
await w.close();
