// What the webhook outbox adds to a memory write (docs/webhooks.md): N sequential
// POST /api/v1/memories on a fresh embedded store, with no endpoint, with an endpoint that
// wants other events, and with one that wants memory.created (a local receiver answering
// 204). Prints the median and p95 per write for each.
//   node --import tsx scripts/webhook-overhead.ts [N=300] [postgres://… for PostgreSQL]
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgentmem } from '../src/app.ts';
import { apiClient } from '../src/bench/api.ts';
import { throwawayDatabase } from '../src/bench/throwaway-db.ts';
import { configFromEnv } from '../src/config.ts';

const n = Number(process.argv[2] ?? 300);
const receiver = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;

async function run(mode: 'none' | 'other' | 'created'): Promise<number[]> {
  const database = await throwawayDatabase(process.argv[3] ?? 'memory://', 'agentmem_whbench');
  const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-whbench-'));
  const key = 'am_whbench_0123456789abcdef0123';
  const app = await startAgentmem({ ...configFromEnv({}), port: 0, dataDir, bootstrapKey: key, logLevel: 'silent', databaseUrl: database.url });
  const api = apiClient(app.url, key);
  try {
    if (mode !== 'none') await api('POST', '/api/v1/webhooks', { body: { url: hook, events: [mode === 'created' ? 'memory.created' : 'memory.deleted'] } });
    for (let i = 0; i < 20; i++) await api('POST', '/api/v1/memories', { body: { content: `warm ${i}` } });
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const res = await api('POST', '/api/v1/memories', { body: { content: `The user mentioned fact number ${i} about their garden.`, user_id: 'u' } });
      ms.push(performance.now() - t);
      if (res.status !== 201) throw new Error(`${res.status} ${JSON.stringify(res.body)}`);
    }
    return ms.sort((a, b) => a - b);
  } finally {
    await app.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const mode of ['none', 'other', 'created'] as const) {
  const ms = await run(mode);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(2);
  console.log(`${mode.padEnd(8)} n=${n} median ${q(0.5)} ms  p95 ${q(0.95)} ms`);
}
receiver.close();
