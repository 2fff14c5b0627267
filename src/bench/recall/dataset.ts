// A labeled retrieval dataset on disk (what `agentmem bench recall --dataset <dir>` reads):
//   <dir>/meta.json        {name, language, source?}
//   <dir>/memories.jsonl   one {id, user, content, created_at?, metadata?} per line
//   <dir>/questions.jsonl  one {user, question, evidence: [memory id, …]} per line
// `user` names a scope: every user's memories are stored under their own user_id, and
// each question searches its user's memories only. Converters for public data sets
// live in scripts/recall-datasets/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const meta = z.object({ name: z.string(), language: z.string(), source: z.string().optional() });
const memory = z.object({
  id: z.string().min(1),
  user: z.string().min(1),
  content: z.string().min(1),
  created_at: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
const question = z.object({ user: z.string().min(1), question: z.string().min(1), evidence: z.array(z.string()).min(1) });

export type DatasetMemory = z.infer<typeof memory>;
export type DatasetQuestion = z.infer<typeof question>;
export interface Dataset {
  meta: z.infer<typeof meta>;
  memories: DatasetMemory[];
  questions: DatasetQuestion[];
}

function jsonl<T>(path: string, schema: z.ZodType<T>): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      const r = schema.safeParse(JSON.parse(l));
      if (!r.success) throw new Error(`${path}:${i + 1}: ${r.error.message}`);
      return r.data;
    });
}

export function loadDataset(dir: string): Dataset {
  const d: Dataset = {
    meta: meta.parse(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'))),
    memories: jsonl(join(dir, 'memories.jsonl'), memory),
    questions: jsonl(join(dir, 'questions.jsonl'), question),
  };
  const ids = new Set(d.memories.map((m) => `${m.user}\n${m.id}`));
  if (ids.size !== d.memories.length) throw new Error(`${dir}: memory ids must be unique per user`);
  for (const q of d.questions) {
    const missing = q.evidence.filter((e) => !ids.has(`${q.user}\n${e}`));
    if (missing.length) throw new Error(`${dir}: question "${q.question}" names unknown evidence ${missing.join(', ')}`);
  }
  return d;
}
