// What the local neural embedder costs on this machine: model start-up, RSS, a query's latency
// and CPU (all threads: the worker included), and per memory in the write path's batches.
//   node --import tsx scripts/local-neural-cost.ts
import { createLocalNeuralEmbedder } from '../src/memory/embedders/local-neural.ts';
const mb = () => (process.memoryUsage().rss / 2 ** 20).toFixed(0);
const cpu = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const rss0 = mb();
const e = createLocalNeuralEmbedder();
let c = process.cpuUsage();
let t = performance.now();
await e.embed(['warm up']);
console.log(`start-up: ${(performance.now() - t).toFixed(0)} ms wall, ${cpu(process.cpuUsage(c)).toFixed(0)} ms CPU; RSS ${rss0} → ${mb()} MB`);
const qs = Array.from({ length: 40 }, (_, i) => `What did I say about the trip to place number ${i}?`);
const times: number[] = [];
c = process.cpuUsage();
for (const q of qs) {
  const s = performance.now();
  await e.embed([q]);
  times.push(performance.now() - s);
}
const qc = cpu(process.cpuUsage(c)) / qs.length;
times.sort((a, b) => a - b);
console.log(`query: p50 ${times[20]!.toFixed(1)} ms, p99 ${times[39]!.toFixed(1)} ms wall; CPU ${qc.toFixed(1)} ms per query (all threads)`);
const mems = Array.from({ length: 320 }, (_, i) => `Yesterday I told my friend ${i} that we should meet at the new cafe near the station next week.`);
c = process.cpuUsage();
t = performance.now();
await e.embed(mems);
const w = performance.now() - t;
console.log(
  `memories: ${(w / mems.length).toFixed(1)} ms wall, ${(cpu(process.cpuUsage(c)) / mems.length).toFixed(1)} ms CPU per memory (batches of 16) → ${(mems.length / (w / 1000)).toFixed(0)} memories/s; RSS ${mb()} MB`,
);
console.log(JSON.stringify(e.stats()));
await e.close();
