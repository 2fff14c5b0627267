// CPU time of fitting one prompt (src/agent/context-window.ts), per call, as a turn pays
// it: stored messages with their token counts already taken, a cached working memory,
// summary and system prompt, five recalled memories and a short user message counted
// once. Compares a 10-message window with 200 long messages (most of which must give way).
//   node --import tsx scripts/fit-cpu.ts [iterations: 20000]
export {};
import { budgetOf, fitPrompt } from '../src/agent/context-window.ts';
import { countText } from '../src/llm/token-count.ts';
import { messageTokens } from '../src/memory/window-messages.ts';
import type { Message } from '../src/store/repos/messages.ts';

const N = Number(process.argv[2] ?? 20_000);
const words = 'the river runs past old stone houses where people talk about weather markets trains books music'.split(' ');
const prose = (seed: number, n: number) => Array.from({ length: n }, (_, i) => words[(seed * 31 + i * 7) % words.length]).join(' ');
const message = (i: number, n: number): Message => ({
  id: `m${i}`,
  seq: i + 1,
  org_id: 'o',
  session_id: 's',
  role: i % 2 ? 'assistant' : 'user',
  content: `Turn ${i}: ${prose(i, n)}`,
  tool_calls: null,
  tool_call_id: null,
  status: 'complete',
  finish_reason: null,
  usage: null,
  timings: null,
  error: null,
  tokens: null,
  reasoning: null,
  created_at: new Date(),
});
const recalled = Array.from({ length: 5 }, (_, i) => ({ id: String(i), content: `The user likes thing ${i} at the market`, score: 0.5 }));
const user = 'What should I cook tonight with what I bought at the market?';
const userTokens = countText(user);

function measure(label: string, history: Message[], extras: { working?: string; summary?: string }, window: number) {
  for (const m of history) messageTokens(m); // counted when stored, not per turn
  const budget = budgetOf({ model: 'gpt-4o', max_context_tokens: window, max_tokens: 1_000 });
  const parts = { systemPrompt: 'You are a helpful assistant. Be brief.', recalled, history, user, userTokens, ...extras };
  let fitted = fitPrompt(budget, parts);
  for (let i = 0; i < 2_000; i++) fitted = fitPrompt(budget, parts); // warm
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) fitted = fitPrompt(budget, parts);
  const cpu = process.cpuUsage(t0);
  const us = (cpu.user + cpu.system) / N;
  console.log(
    `${label.padEnd(52)} ${us.toFixed(2).padStart(7)} µs CPU per fit   (${fitted.messages.length} messages sent, ${fitted.tokens} of ${fitted.limit} tokens; dropped ${fitted.dropped.messages} window messages)`,
  );
}

measure(
  '10 short messages, no working memory or summary',
  Array.from({ length: 10 }, (_, i) => message(i, 12)),
  {},
  128_000,
);
measure(
  '200 long messages, working memory and summary',
  Array.from({ length: 200 }, (_, i) => message(i, 400)),
  {
    working: '## Name\nAda\n## Likes\nGreen tea, long walks, the harbour at dusk.',
    summary: prose(3, 250),
  },
  16_000,
);
measure(
  '200 long messages, all fit (1M window)',
  Array.from({ length: 200 }, (_, i) => message(i, 400)),
  { working: 'Ada', summary: prose(3, 250) },
  1_047_576,
);

// The one count a turn takes: its user message (while recall runs).
for (const [label, text] of [
  ['a 60-character user message', user],
  ['a 20,000-character user message', prose(9, 3_500).slice(0, 20_000)],
  ['a 200,000-character user message', prose(11, 35_000).slice(0, 200_000)],
] as const) {
  const reps = text.length > 10_000 ? 20 : 20_000;
  for (let i = 0; i < Math.min(reps, 50); i++) countText(text + i);
  const t0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) countText(i ? text + i : text);
  const cpu = process.cpuUsage(t0);
  console.log(`counting ${label.padEnd(43)} ${((cpu.user + cpu.system) / reps).toFixed(2).padStart(9)} µs CPU`);
}
