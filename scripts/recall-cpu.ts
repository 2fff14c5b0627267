// CPU time of the default (text-only) recall search at 10,000 memories in one scope: the
// in-process BM25 index (src/memory/lexical/) as search uses it (coord + RM3), per query, measured as
// process CPU time (user + system), which a loaded machine inflates far less than wall time.
//   node --import tsx scripts/recall-cpu.ts   (env: N=10000 Q=2000)
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { analyze } from '../src/memory/lexical/tokens.ts';
import { MEMORY_RANKING } from '../src/memory/recall-config.ts';
import { createScopeIndexes } from '../src/memory/lexical/scope-indexes.ts';

const N = Number(process.env.N ?? 10_000);
const Q = Number(process.env.Q ?? 2_000);
let seed = 7;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
const things =
  'coffee tea sushi pizza pasta ramen tacos curry chocolate cheese bread wine jazz rock techno opera chess tennis football running hiking cycling swimming yoga painting guitar piano violin photography gardening baking poetry history physics python rust kubernetes postgres linux cats dogs horses birds'.split(
    ' ',
  );
const places = 'Berlin Paris London Tokyo Madrid Rome Vienna Prague Lisbon Oslo Dublin Warsaw Athens Seoul Beijing Shanghai'.split(' ');
const zh = '咖啡 茶 寿司 火锅 饺子 面条 跑步 游泳 音乐 电影 北京 上海 柏林 东京'.split(' ');
const text = (i: number) =>
  pick([
    () => `I like ${pick(things)} and ${pick(things)}`,
    () => `I travelled to ${pick(places)} on ${1 + (i % 28)} May 2023`,
    () => `My favourite hobby is ${pick(things)} in ${pick(places)}`,
    () => `我喜欢${pick(zh)}和${pick(zh)}`,
  ])() + ` (note ${i})`;
const questions = [
  () => `What is my favourite ${pick(things)}?`,
  () => `Did I go to ${pick(places)} in May 2023?`,
  () => `Do I like ${pick(things)}?`,
  () => `我喜欢${pick(zh)}吗？`,
];

const docs = Array.from({ length: N }, (_, i) => ({ id: `m${i}`, agent_id: 'a', user_id: 'u', content: text(i) }));
const index = createScopeIndexes<(typeof docs)[number]>(
  { load: async () => docs, terms: (d) => analyze(d.content), bytes: () => 0, ranking: MEMORY_RANKING },
  { maxBytes: 1 << 30 },
);
const scope = { orgId: 'o', agentId: 'a', userId: 'u' };
const tLoad = process.cpuUsage();
await index.search(scope, analyze('warm up'), 10);
const load = process.cpuUsage(tLoad);
const cpu: number[] = [];
// How long the event loop waits while searches run back to back: the longest piece of work a
// search does without a turn of the loop (what every other stream's next frame waits for).
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const ticker = setInterval(() => {}, 1);
for (let q = 0; q < Q; q++) {
  const query = pick(questions)();
  const t = process.cpuUsage();
  await index.search(scope, analyze(query), 40); // candidateCount(10), as search asks
  const d = process.cpuUsage(t);
  cpu.push((d.user + d.system) / 1000);
  await new Promise((resolve) => setImmediate(resolve)); // the loop turns between searches
}
clearInterval(ticker);
loop.disable();
cpu.sort((a, b) => a - b);
const p = (x: number) => cpu[Math.min(cpu.length - 1, Math.floor((x / 100) * cpu.length))]!.toFixed(3);
console.log(
  `${N} memories in one scope, ${Q} queries: index built in ${((load.user + load.system) / 1000).toFixed(0)} ms CPU; search CPU per query p50 ${p(50)} ms, p99 ${p(99)} ms, max ${cpu.at(-1)!.toFixed(3)} ms; event-loop delay meanwhile p99 ${(loop.percentile(99) / 1e6).toFixed(2)} ms, max ${(loop.max / 1e6).toFixed(2)} ms (resolution 1 ms)`,
);
