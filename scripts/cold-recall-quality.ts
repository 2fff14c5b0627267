// Recall quality of a cold scope's answer (the store's full text, cold-search.ts) beside the
// warm one (the in-process BM25 index), on a labeled dataset (src/bench/recall/dataset.ts):
// `npx tsx scripts/cold-recall-quality.ts <dataset dir> [database url]` (default PGlite in memory).
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../src/bench/recall/dataset.ts';
import { quality } from '../src/bench/recall/metrics.ts';
import { throwawayDatabase } from '../src/bench/throwaway-db.ts';
import { fullTextSearch } from '../src/memory/cold-search.ts';
import { createMemoryIndex } from '../src/memory/memory-index.ts';
import { analyze } from '../src/memory/lexical/tokens.ts';
import { migrate } from '../src/store/migrate.ts';
import { openStore } from '../src/store/open.ts';
import { insertMemories } from '../src/store/repos/memories.ts';

const [dir, url = 'memory://'] = process.argv.slice(2);
const d = loadDataset(dir!);
const t = await throwawayDatabase(url, 'agentmem_cold_quality');
const db = await openStore(t.url, mkdtempSync(join(tmpdir(), 'cold-')));
try {
  await migrate(db);
  const org = randomUUID();
  const agent = randomUUID();
  await db.query(`insert into organizations (id, name) values ($1, 'q')`, [org]);
  await db.query(`insert into agents (id, org_id, name, config) values ($1, $2, 'q', '{}')`, [agent, org]);
  const idOf = new Map<string, string>();
  const rows = d.memories.map((m) => {
    const id = randomUUID();
    idOf.set(id, m.id);
    return {
      id,
      agent_id: agent,
      user_id: m.user,
      content: m.content,
      metadata: m.metadata ?? {},
      embedding: null,
      embedder: null,
      created_at: new Date(m.created_at ?? Date.now()),
    };
  });
  await insertMemories(db, org, rows);
  const index = createMemoryIndex(db);
  const warm = [];
  const cold = [];
  for (const q of d.questions) {
    const scope = { orgId: org, agentId: agent, userId: q.user };
    const w = await index.search(scope, analyze(q.question), 10);
    warm.push({ ranked: w.map((h) => idOf.get(h.doc.id)!), evidence: q.evidence });
    const c = await fullTextSearch(db, scope, q.question, 10);
    cold.push({ ranked: c.map((h) => idOf.get(h.doc.id)!), evidence: q.evidence });
  }
  console.log(`${d.meta.name} (${d.memories.length} memories, ${d.questions.length} questions), ${db.engine}`);
  console.log('warm (in-process BM25):', JSON.stringify(quality(warm)));
  console.log('cold (store full text):', JSON.stringify(quality(cold)));
} finally {
  await db.close();
  await t.drop();
}
