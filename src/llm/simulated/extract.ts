// The simulated model's answer to an extraction request: deterministic, offline,
// good enough to exercise extraction end to end. No model, no meaning: just these rules
// (docs/memory.md, "The offline extractor"):
// - A user message is cut into sentences, and a sentence into clauses where "and", "but",
//   "also", "while", a comma or a semicolon (，；而且 并且 还有) starts a new first-person
//   clause: "I live in Berlin and I love sushi" is two facts.
// - A first-person clause is a fact; its "subject" (e.g. "my name", "i live", "我住")
//   decides whether it UPDATEs an existing memory of that subject or is ADDed. Places and
//   identity replace each other ("I moved to Munich" updates "I live in Berlin"); likes,
//   dislikes, possessions accumulate (one memory each). The same fact again is NONE.
// - "Forget …", "I no longer …", "I don't live/work …" DELETE the memories naming its last word.
// - Relative dates resolve from the message's time ("at"), as the real prompt asks.
import { resolveRelativeDates } from '../../memory/relative-dates.ts';

interface Input {
  existing: Array<{ id: string; text: string }>;
  conversation: Array<{ role: string; content: string; at?: string }>;
}

const en =
  /^(?:(my\s+[\p{L}\s'-]{1,40}?)\s+(?:is|are|was)\b|i\s+(?:now\s+|still\s+|also\s+|really\s+)?(live|work|study|am|'m|like|love|prefer|hate|have|own|drive|speak|play|moved|relocated)\b|(call\s+me)\b)/iu;
const zh = /^我(?:现在|也|还)?(叫|是|住|在|喜欢|爱|讨厌|有|搬到|搬去|的[\p{Script=Han}]{1,4}是)/u;
// verbs that name where one lives: a move updates the place
const MOVES = new Set(['moved', 'relocated']);
const ZH_MOVES = new Set(['搬到', '搬去']);
const ACCUMULATE = new Set(['like', 'love', 'hate', 'have', 'own', 'play', 'speak']);
const ZH_ACCUMULATE = new Set(['喜欢', '爱', '讨厌', '有']);
const forget = /^(?:please\s+)?(?:forget|i\s+no\s+longer|i\s+don'?t\s+(?:live|work)\s+)/i;

function subject(sentence: string): string | undefined {
  const s = sentence.trim();
  const m = en.exec(s);
  if (m) {
    if (m[1]) return m[1].toLowerCase().replace(/\s+/g, ' ');
    if (m[3]) return 'call me';
    const verb = m[2]!.toLowerCase().replace("'m", 'am');
    // Likes and dislikes accumulate; identity and places replace each other.
    if (ACCUMULATE.has(verb)) return `i ${verb} ${s.toLowerCase()}`;
    return `i ${MOVES.has(verb) ? 'live' : verb}`;
  }
  const z = zh.exec(s);
  if (!z) return undefined;
  const verb = z[1]!;
  if (ZH_ACCUMULATE.has(verb)) return `我${verb} ${s}`;
  return `我${ZH_MOVES.has(verb) ? '住' : verb}`;
}

// A new first-person clause after a conjunction or a comma: one fact each.
const CLAUSE = /\s*(?:[,;]\s*(?:and\s+|but\s+|also\s+)?|\s(?:and|but|also|while)\s+)(?=(?:i|my|i'm)\b)|\s*(?:[，；,;]\s*|而且|并且|还有)(?=我)/iu;

function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?。！？])\s*|\n+/u)
    .flatMap((s) => s.split(CLAUSE))
    .map((s) => s.trim().replace(/[.!?。！？,，;；]+$/u, ''))
    .filter((s) => s.length > 2 && s.length < 300);
}

export function simulatedExtraction(raw: string): string {
  let input: Input;
  try {
    input = JSON.parse(raw) as Input;
  } catch {
    return '{"memory": []}';
  }
  const existing = new Map<string, { id: string; text: string }>();
  for (const m of input.existing ?? []) {
    const key = subject(m.text);
    if (key) existing.set(key, m);
  }
  const decisions: Array<{ event: string; id?: string; text?: string }> = [];
  for (const turn of input.conversation ?? []) {
    if (turn.role !== 'user') continue;
    const at = turn.at ? new Date(turn.at) : undefined;
    for (const said of sentences(turn.content)) {
      const s = at ? resolveRelativeDates(said, at) : said;
      if (forget.test(s)) {
        const about = s.replace(forget, '').trim().toLowerCase();
        for (const m of existing.values()) {
          if (about && m.text.toLowerCase().includes(about.split(/\s+/).slice(-1)[0]!)) decisions.push({ event: 'DELETE', id: m.id });
        }
        continue;
      }
      const key = subject(s);
      if (!key) continue;
      const old = existing.get(key);
      if (!old) decisions.push({ event: 'ADD', text: s });
      else if (old.text.trim().toLowerCase() === s.toLowerCase()) decisions.push({ event: 'NONE', id: old.id });
      else decisions.push({ event: 'UPDATE', id: old.id, text: s });
      existing.set(key, { id: old?.id ?? '', text: s });
    }
  }
  return JSON.stringify({ memory: decisions });
}
