// Writes the generated datasets (src/bench/recall/synthetic.ts) in the bench's format.
//   node --import tsx scripts/recall-datasets/synthetic.ts [out dir = test/fixtures/recall]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticDataset } from '../../src/bench/recall/synthetic.ts';

const out = process.argv[2] ?? 'test/fixtures/recall';
for (const lang of ['en', 'zh'] as const) {
  const d = syntheticDataset(lang);
  const dir = join(out, `synthetic-${lang}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(d.meta, null, 2) + '\n');
  writeFileSync(join(dir, 'memories.jsonl'), d.memories.map((m) => JSON.stringify(m)).join('\n') + '\n');
  writeFileSync(join(dir, 'questions.jsonl'), d.questions.map((q) => JSON.stringify(q)).join('\n') + '\n');
  console.log(`${dir}: ${d.memories.length} memories, ${d.questions.length} questions`);
}
