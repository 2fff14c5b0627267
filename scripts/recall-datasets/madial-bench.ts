// MADial-Bench (github.com/hejunqing/MADial-Bench, NAACL 2025; Chinese and English), its
// memory-recall task → the dataset format of src/bench/recall/dataset.ts.
//   node --import tsx scripts/recall-datasets/madial-bench.ts <MADial-Bench checkout> <out dir> [zh|en]
// Reads data/ch/MADial-Bench-zh-{memory,dialogue}.json (or data/en/… for en): one JSON object
// per line. Each memory is an event of one of two users ("Bart", "Lisa"); each dialogue
// leads up to a turn where the assistant should bring a memory back. As the benchmark's own
// recall evaluation does, the question is the dialogue before the first such turn
// ("test-turn") and the evidence is its "relevant-id" memories; one user = one scope.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [src, out, lang = 'zh'] = process.argv.slice(2);
if (!src || !out || !['zh', 'en'].includes(lang)) {
  console.error('usage: madial-bench.ts <MADial-Bench dir> <out dir> [zh|en]');
  process.exit(2);
}

const lines = <T>(path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
const dir = join(src, 'data', lang === 'zh' ? 'ch' : 'en');

interface Event {
  time?: string;
  scene?: string;
  emotion?: string;
  event: string;
  'user-id'?: number;
  id?: string;
}
interface Dialogue {
  dialogue: string[];
  'test-turn': number[];
  'relevant-id': number[];
  'user-id': number;
  id: number;
}

// The English memory file has no user-id: the Chinese one, with the same ids, gives it.
const zhUser = new Map<string, number>();
for (const row of lines<Record<string, Event>>(join(src, 'data', 'ch', 'MADial-Bench-zh-memory.json'))) {
  for (const [key, e] of Object.entries(row)) if (e['user-id'] !== undefined) zhUser.set(key, e['user-id']);
}

const memories: string[] = [];
const owner = new Map<string, string>();
for (const row of lines<Record<string, Event>>(join(dir, `MADial-Bench-${lang}-memory.json`))) {
  for (const [key, e] of Object.entries(row)) {
    const uid = e['user-id'] ?? zhUser.get(key);
    if (uid === undefined) throw new Error(`memory ${key}: no user-id`);
    const user = `user-${uid}`;
    const id = String(e.id ?? key);
    owner.set(id, user);
    const date = /^\d{4}-\d\d-\d\d$/.test(e.time ?? '') ? `${e.time}T12:00:00Z` : undefined;
    memories.push(JSON.stringify({ id, user, content: e.event.trim(), created_at: date, metadata: { scene: e.scene, emotion: e.emotion } }));
  }
}

// "<Bart>:\"…\"\n" → "Bart: …"; the <BOD>/<EOD> markers dropped
const turnText = (t: string) => t.trim().replace(/^<([^>]+)>:\s*"?(.*?)"?$/s, '$1: $2');
const questions: string[] = [];
let dropped = 0;
for (const d of lines<Dialogue>(join(dir, `MADial-Bench-${lang}-dialogue.json`))) {
  const user = `user-${d['user-id']}`;
  const evidence = [...new Set(d['relevant-id'].map(String))].filter((id) => owner.get(id) === user);
  const question = d.dialogue
    .slice(0, d['test-turn'][0])
    .filter((t) => !/^<[BE]OD>\s*$/.test(t))
    .map(turnText)
    .join('\n');
  if (!evidence.length || !question) {
    dropped++;
    continue;
  }
  questions.push(JSON.stringify({ user, question, evidence }));
}
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'meta.json'),
  JSON.stringify({ name: `madial-bench-${lang}`, language: lang, source: `github.com/hejunqing/MADial-Bench data/${lang === 'zh' ? 'ch' : 'en'}/` }, null, 2) +
    '\n',
);
writeFileSync(join(out, 'memories.jsonl'), memories.join('\n') + '\n');
writeFileSync(join(out, 'questions.jsonl'), questions.join('\n') + '\n');
console.log(`${memories.length} memories, ${questions.length} questions (${dropped} dropped) → ${out}`);
