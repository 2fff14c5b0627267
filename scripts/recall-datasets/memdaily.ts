// MemDaily (MemSim, github.com/nuster1128/MemSim; Chinese; Zhang et al. 2024) → the
// dataset format of src/bench/recall/dataset.ts.
//   node --import tsx scripts/recall-datasets/memdaily.ts <MemSim checkout> <out dir> [--per-file 20] [--noise 9]
// Reads data_generation/final_dataset/messages_and_QAs/*.json: 26 files (simple, conditional,
// comparative, aggregative, post-processing and noisy questions over roles, events, items,
// places and their mix), each a list of trajectories — a user's messages and one question
// whose `target_step_id` names the messages that answer it.
//
// One trajectory = one user scope, each message a memory written as MemSim's benchmark
// writes it: "<message> (消息地点 <place>, 消息时间 <time>)". Alone a trajectory holds 4–22
// messages, which a top 10 nearly covers; MemSim's benchmark therefore mixes in noise
// messages, `--noise` times as many as the trajectory has (its 10× setting is 9). Its
// noise pool is not in the repository snapshot, so the noise here is other trajectories'
// messages that share no run of 4 Han characters with this trajectory's (the generated
// users reuse entities — 金融科技精英论坛 is in 37 trajectories — and a copy of a fact
// that answers the question must not count as a miss), drawn with a fixed seed.
// `--per-file` keeps the first n trajectories of each file (all: 0).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../../src/random.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { 'per-file': { type: 'string', default: '20' }, noise: { type: 'string', default: '9' } },
});
const [src, out] = positionals;
const perFile = Number(values['per-file']);
const noise = Number(values.noise);
if (!src || !out || !Number.isInteger(perFile) || !Number.isInteger(noise)) {
  console.error('usage: memdaily.ts <MemSim dir> <out dir> [--per-file n] [--noise n]');
  process.exit(2);
}

interface Message {
  mid: number;
  message: string;
  time: string;
  place: string;
}
interface Trajectory {
  tid: number;
  message_list: Message[];
  question_list: Array<{ question: string; target_step_id: number[] }>;
}

const dir = join(src, 'data_generation', 'final_dataset', 'messages_and_QAs');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const all = files.map((f) => ({ name: f.replace(/\.json$/, ''), trajectories: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Trajectory[] }));
const pool = all.flatMap((f) => f.trajectories.flatMap((t) => t.message_list.map((m) => ({ from: `${f.name}#${t.tid}`, m }))));

// "2024年04月01日 周一 08:30" → ISO
const iso = (s: string) => {
  const m = /^(\d{4})年(\d\d)月(\d\d)日 \S+ (\d\d:\d\d)$/.exec(s.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:00Z` : undefined;
};
const text = (m: Message) => `${m.message} (消息地点 ${m.place}, 消息时间 ${m.time})`;
const han4 = (s: string) => {
  const grams = new Set<string>();
  for (const run of s.match(/\p{Script=Han}{4,}/gu) ?? []) for (let i = 0; i + 4 <= run.length; i++) grams.add(run.slice(i, i + 4));
  return grams;
};

// the same noise on every run
const random = mulberry32(1128);

const memories: string[] = [];
const questions: string[] = [];
for (const f of all) {
  for (const t of perFile ? f.trajectories.slice(0, perFile) : f.trajectories) {
    const user = `${f.name}#${t.tid}`;
    const own = new Set(t.message_list.flatMap((m) => [...han4(m.message)]));
    const rows = t.message_list.map((m) => ({ id: `m${m.mid}`, content: text(m), created_at: iso(m.time) }));
    const wanted = noise * t.message_list.length;
    const taken = new Set<number>();
    for (let tries = 0; taken.size < wanted && tries < wanted * 50; tries++) {
      const i = Math.floor(random() * pool.length);
      const p = pool[i]!;
      if (taken.has(i) || p.from === user || [...han4(p.m.message)].some((g) => own.has(g))) continue;
      taken.add(i);
      rows.push({ id: `noise${taken.size}`, content: text(p.m), created_at: iso(p.m.time) });
    }
    // noise among the messages, not after them: insertion order must not tell them apart
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    for (const r of rows) memories.push(JSON.stringify({ ...r, user }));
    for (const q of t.question_list) questions.push(JSON.stringify({ user, question: q.question, evidence: q.target_step_id.map((i) => `m${i}`) }));
  }
}
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'meta.json'),
  JSON.stringify(
    {
      name: `memdaily${noise ? `-noise${noise}` : ''}`,
      language: 'zh',
      source: `github.com/nuster1128/MemSim data_generation/final_dataset/messages_and_QAs (${perFile || 'all'} trajectories per file, noise ×${noise})`,
    },
    null,
    2,
  ) + '\n',
);
writeFileSync(join(out, 'memories.jsonl'), memories.join('\n') + '\n');
writeFileSync(join(out, 'questions.jsonl'), questions.join('\n') + '\n');
console.log(`${memories.length} memories, ${questions.length} questions → ${out}`);
