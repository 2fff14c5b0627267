// REALTALK (github.com/danny911kr/REALTALK, 10 real 21-day conversations, English, QA
// with evidence turns) → the dataset format of src/bench/recall/dataset.ts.
//   node --import tsx scripts/recall-datasets/realtalk.ts <REALTALK checkout>/data <out dir>
// Reads only data/Chat_*.json (REALTALK's own chats). The repository also carries a copy
// of LoCoMo under data/locomo/: that is held out of agentmem's tuning and never read here.
// One chat = one user scope; one turn = one memory "Speaker: text" (an image turn adds
// its caption), created_at = the turn's time; evidence = the questions' dia_ids.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [src, out] = process.argv.slice(2);
if (!src || !out) {
  console.error('usage: realtalk.ts <REALTALK data dir> <out dir>');
  process.exit(2);
}

interface Turn {
  clean_text: string;
  speaker: string;
  date_time: string;
  dia_id: string;
  blip_caption?: string | null;
}

/** "29.12.2023, 22:42:04" → ISO */
const iso = (s: string) => {
  const m = /^(\d\d)\.(\d\d)\.(\d{4}), (\d\d:\d\d:\d\d)$/.exec(s.trim());
  return m ? `${m[3]}-${m[2]}-${m[1]}T${m[4]}Z` : undefined;
};
const normId = (s: string) => s.replace(/\s+/g, '');

const memories: string[] = [];
const questions: string[] = [];
let dropped = 0;
for (const file of readdirSync(src)
  .filter((f) => /^Chat_.*\.json$/.test(f))
  .sort()) {
  const chat = JSON.parse(readFileSync(join(src, file), 'utf8')) as Record<string, unknown>;
  const user = file.replace(/\.json$/, '');
  const ids = new Set<string>();
  for (const [key, turns] of Object.entries(chat)) {
    if (!/^session_\d+$/.test(key) || !Array.isArray(turns)) continue;
    for (const t of turns as Turn[]) {
      const text = [t.clean_text?.trim(), t.blip_caption ? `(shares a photo: ${t.blip_caption})` : ''].filter(Boolean).join(' ');
      if (!text) continue;
      const id = normId(t.dia_id);
      ids.add(id);
      memories.push(JSON.stringify({ id, user, content: `${t.speaker}: ${text}`, created_at: iso(t.date_time), metadata: { session: key } }));
    }
  }
  for (const qa of (chat.qa ?? []) as Array<{ question: string; evidence?: string[] }>) {
    const evidence = [...new Set((qa.evidence ?? []).map(normId).filter((e) => ids.has(e)))];
    if (!evidence.length) {
      dropped++;
      continue;
    }
    questions.push(JSON.stringify({ user, question: qa.question, evidence }));
  }
}
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'meta.json'),
  JSON.stringify({ name: 'realtalk', language: 'en', source: 'github.com/danny911kr/REALTALK data/Chat_*.json' }, null, 2) + '\n',
);
writeFileSync(join(out, 'memories.jsonl'), memories.join('\n') + '\n');
writeFileSync(join(out, 'questions.jsonl'), questions.join('\n') + '\n');
console.log(`${memories.length} memories, ${questions.length} questions (${dropped} without a turn they name dropped) → ${out}`);
