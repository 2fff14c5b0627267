// The simulated model's answer to an extraction request: deterministic, offline,
// good enough to exercise extraction end to end. A first-person statement is a fact;
// its "subject" (e.g. "my name", "i live", "我住") decides whether it updates an
// existing memory or adds a new one. No model, no meaning: just these patterns.

interface Input {
  existing: Array<{ id: string; text: string }>;
  conversation: Array<{ role: string; content: string }>;
}

const en =
  /^(?:(my\s+[\p{L}\s'-]{1,40}?)\s+(?:is|are|was)\b|(i\s+(?:live|work|study|am|'m|like|love|prefer|hate|have|own|drive|speak|play))\b|(call\s+me)\b)/iu;
const zh = /^(我(?:叫|是|住|在|喜欢|爱|讨厌|有|的[\p{Script=Han}]{1,4}是))/u;
const forget = /^(?:please\s+)?(?:forget|i\s+no\s+longer|i\s+don'?t\s+(?:live|work)\s+)/i;

function subject(sentence: string): string | undefined {
  const s = sentence.trim();
  const m = en.exec(s);
  if (m) {
    const key = (m[1] ?? m[2] ?? m[3])!.toLowerCase().replace(/\s+/g, ' ').replace("i'm", 'i am');
    // Likes and dislikes accumulate; identity and places replace each other.
    return /^(i (?:like|love|hate|have|own|play|speak))$/.test(key) ? `${key} ${s.toLowerCase()}` : key;
  }
  const z = zh.exec(s);
  return z ? z[1] : undefined;
}

function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?。！？])\s*|\n+/u)
    .map((s) => s.trim().replace(/[.!?。！？]+$/u, ''))
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
    for (const s of sentences(turn.content)) {
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
