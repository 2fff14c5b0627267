// What POST /agents/:id/context costs next to a chat turn, on this machine: one agentmem
// (PGlite in memory, the simulated model with no delay) over a socket, a session of 20
// exchanges and a few memories, then `n` context requests and `n` JSON chat turns, one at a
// time; prints each one's median and p90 (ms, client-side). A smoke figure, not a benchmark.
//   npx tsx scripts/context-latency.ts [n=50]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgentmemClient } from '../packages/client/src/index.ts';
import { startAgentmem } from '../src/app.ts';
import { configFromEnv } from '../src/config.ts';

const n = Number(process.argv[2] ?? 50);
const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-context-latency-'));
const bootstrapKey = 'am_latency_' + Math.random().toString(36).slice(2);
const app = await startAgentmem({ ...configFromEnv({}), port: 0, host: '127.0.0.1', dataDir, databaseUrl: 'memory://', bootstrapKey, logLevel: 'silent' });
try {
  const am = createAgentmemClient({ baseUrl: app.url, apiKey: bootstrapKey });
  const { data } = await am.api.POST('/api/v1/agents', {
    body: { name: 'latency', llm: { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } } },
  });
  const agentId = (data as { id: string }).id;
  let session: string | undefined;
  for (let i = 0; i < 20; i++) {
    const told = await am.storeExchange(agentId, {
      message: `I like hobby number ${i}.`,
      answer: 'Noted.',
      user_id: 'ada',
      session_id: session,
      memory_updates: true,
    });
    session = told.session_id;
  }
  const time = async (f: () => Promise<unknown>) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await f();
      out.push(performance.now() - t0);
    }
    out.sort((a, b) => a - b);
    return { median: out[Math.floor(n / 2)]!.toFixed(2), p90: out[Math.floor(n * 0.9)]!.toFixed(2) };
  };
  const context = await time(() => am.context(agentId, { message: 'Which hobbies do I have?', session_id: session }));
  const chat = await time(() =>
    am.api.POST('/api/v1/agents/{id}/chat', { params: { path: { id: agentId } }, body: { message: 'Which hobbies do I have?', user_id: 'ada' } }),
  );
  console.log(JSON.stringify({ n, context_ms: context, chat_turn_ms: chat }));
} finally {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
