// Bytes per memory of the lexical index, measured: U users × M memories of ~70 characters,
// loaded into the memory index as a search would (their rows as the store returns them),
// heap before and after (collected). `npx tsx --expose-gc scripts/index-bytes.ts` (U, M: env).
import { createScopeIndexes } from '../src/memory/lexical/scope-indexes.ts';
import { MEMORY_RANKING } from '../src/memory/recall-config.ts';
import { analyze } from '../src/memory/lexical/tokens.ts';
import { memoryDocBytes } from '../src/memory/memory-index.ts';
import type { MemoryDoc } from '../src/store/repos/memories.ts';
import { randomUUID } from 'node:crypto';

const U = Number(process.env.U ?? 2_000);
const M = Number(process.env.M ?? 20);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const who = ['sister', 'friend', 'colleague', 'neighbour'];
const what = ['hiking', 'chess', 'painting', 'cycling', 'baking'];
const rows = (u: number): MemoryDoc[] => {
  const agent = 'a'.repeat(8) + '-0000-4000-8000-000000000000';
  const user = `user${u}`;
  return Array.from({ length: M }, (_, m) => ({
    id: randomUUID(),
    agent_id: agent,
    user_id: user,
    // built by concatenation, as a driver's row would be: its own string
    content: `User ${u} mentioned that their ${who[m % 4]} enjoys ${what[(u + m) % 5]} on day ${m} of trip ${u % 97}`.split('').join(''),
    metadata: {},
    created_at: new Date(),
    updated_at: new Date(),
  }));
};
const index = createScopeIndexes<MemoryDoc>(
  { load: async (_o, s) => rows(Number(String(s.userId).slice(4))), terms: (m) => analyze(m.content), bytes: memoryDocBytes, ranking: MEMORY_RANKING },
  { maxBytes: 1 << 30 },
);
let chars = 0;
for (const m of rows(0)) chars += m.content.length;
gc();
const before = process.memoryUsage().heapUsed;
for (let u = 0; u < U; u++)
  await index.search({ orgId: 'o', agentId: 'a'.repeat(8) + '-0000-4000-8000-000000000000', userId: `user${u}` }, analyze('chess'), 10);
gc();
const after = process.memoryUsage().heapUsed;
const per = (after - before) / (U * M);
console.log(
  `${U} users × ${M} memories (~${Math.round(chars / M)} characters): heap +${((after - before) / 1048576).toFixed(1)} MiB, ${per.toFixed(0)} B per memory (${(per / (chars / M)).toFixed(1)}× its text); the index's own estimate ${(index.stats().bytes / (U * M)).toFixed(0)} B`,
);
