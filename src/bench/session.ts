// `agentmem bench --session N`: one long conversation, turn by turn, through agentmem and
// direct, against the same emulator with a prefill profile (the first token waits for the
// prompt's uncached tokens, profiles.ts; a prefix cache per API key, prefix-cache.ts).
//   direct:  a plain client that resends its whole history (system prompt, every earlier
//            exchange, the new message) to the emulator with its own key;
//   through: agentmem's native SSE route, memory on (recall over seeded and extracted
//            memories, extraction after every turn, a history window; working memory on ask).
// Per turn: time to first content on each side, the prompt's tokens and how many the cache
// served. At the end: every prompt token the emulator billed each side's key (agentmem's
// extraction and summary calls included), cached and uncached. Turns run one at a time, on
// this thread (the figures are hundreds of ms; the bench client's own parsing is ~0.1 ms).
import { createParser } from 'eventsource-parser';
import { optionPath } from '../emulator/options.ts';
import type { ProfileName } from '../emulator/profiles.ts';
import type { AgentEvent } from '../agent/events.ts';
import type { ChatMessage } from '../llm/types.ts';
import type { PromptTotals } from './emulator-thread.ts';
import { machineInfo } from './machine.ts';
import { createBenchAgent, seedMemories, startWorld } from './setup.ts';
import { fmtMs, percentile } from './stats.ts';
import { SYSTEM_PROMPT, TEMPLATE_TEXT, variedMessage } from './workload.ts';

export interface SessionBenchOptions {
  turns: number;
  profile: ProfileName;
  /** memory:// (default) or postgres://… (a throwaway database) */
  database?: string;
  /** memory.last_messages of the agent (default 100) */
  window?: number;
  workingMemory?: boolean;
  /** rolling summaries on */
  summaries?: boolean;
  /** memories seeded for the user before the first turn (default 40) */
  memories?: number;
  /** turns before this one are left out of the summary (default 5: the cache is warming) */
  summaryFrom?: number;
  progress?: (line: string, final?: boolean) => void;
}

export interface SideTurn {
  /** request sent → first content, ms */
  ttfbMs: number;
  promptTokens: number;
  cachedTokens: number;
}

export interface SessionTurn {
  turn: number;
  direct: SideTurn;
  through: SideTurn & { upstreamTtfbMs?: number };
}

export interface SideSummary {
  medianTtfbMs: number;
  /** cached / prompt tokens over the summarized turns' chat requests */
  cachedShare: number;
  meanPromptTokens: number;
  /** every prompt the emulator billed this side's key, the whole run */
  billed: PromptTotals;
}

export interface SessionBenchResult {
  profile: ProfileName;
  engine: string;
  date: string;
  machine: ReturnType<typeof machineInfo>;
  window: number;
  workingMemory: boolean;
  summaries: boolean;
  turns: SessionTurn[];
  summaryFrom: number;
  direct: SideSummary;
  through: SideSummary;
}

const DIRECT_KEY = 'sk-direct-client';
const MODEL = 'gpt-emu';

export async function runSessionBench(opts: SessionBenchOptions): Promise<SessionBenchResult> {
  const { turns: n, profile, database, window = 100, workingMemory = false, summaries = false, memories = 40, summaryFrom = 5, progress } = opts;
  const world = await startWorld({ database, profile });
  try {
    // the answer is unpaced (only the first token is measured); extraction answers add a memory per turn
    const options = optionPath({ text: TEMPLATE_TEXT, tokens_per_s: 0, extraction: 'well_formed' });
    const agent = await createBenchAgent(world, `${world.emulator.url}${options}/v1`, { window, workingMemory, summaries });
    if (memories > 0) await seedMemories(world, agent, memories);
    const directUrl = `${world.emulator.url}${options}/v1/chat/completions`;
    const history: ChatMessage[] = [{ role: 'system', content: SYSTEM_PROMPT }];
    const turns: SessionTurn[] = [];
    let sessionId: string | undefined;
    for (let i = 0; i < n; i++) {
      const message = variedMessage(i);
      history.push({ role: 'user', content: message });
      const direct = await directTurn(directUrl, history);
      history.push({ role: 'assistant', content: direct.text });
      const through = await throughTurn(world.app.url, world.adminKey, agent.id, { message, user_id: agent.userId, session_id: sessionId });
      sessionId = through.sessionId;
      turns.push({ turn: i + 1, direct: direct.side, through: through.side });
      progress?.(`session turn ${i + 1}/${n}: direct ${fmtMs(direct.side.ttfbMs)} ms, through ${fmtMs(through.side.ttfbMs)} ms`, i === n - 1);
    }
    const [billedDirect, billedThrough] = await Promise.all([world.emulator.promptTotals(DIRECT_KEY), world.emulator.promptTotals('sk-bench')]);
    const measured = turns.filter((t) => t.turn > summaryFrom);
    return {
      profile,
      engine: world.engine,
      date: new Date().toISOString(),
      machine: machineInfo(),
      window,
      workingMemory,
      summaries,
      turns,
      summaryFrom,
      direct: summarizeSide(
        measured.map((t) => t.direct),
        billedDirect,
      ),
      through: summarizeSide(
        measured.map((t) => t.through),
        billedThrough,
      ),
    };
  } finally {
    await world.close();
  }
}

function summarizeSide(sides: SideTurn[], billed: PromptTotals): SideSummary {
  const prompt = sides.reduce((s, t) => s + t.promptTokens, 0);
  const cached = sides.reduce((s, t) => s + t.cachedTokens, 0);
  return {
    medianTtfbMs: percentile(
      sides.map((t) => t.ttfbMs).sort((a, b) => a - b),
      50,
    ),
    cachedShare: prompt ? cached / prompt : 0,
    meanPromptTokens: sides.length ? prompt / sides.length : 0,
    billed,
  };
}

/** One streamed POST; `onEvent` gets each `data:` payload parsed (not `[DONE]`), taken to be a `T`. Resolves at the end of the body. */
async function stream<T>(url: string, key: string, body: unknown, onEvent: (data: T) => void): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200 || !res.body) throw new Error(`${url}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  const parser = createParser({ onEvent: (e) => e.data !== '[DONE]' && onEvent(JSON.parse(e.data) as T) });
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
}

/** The fields read of an OpenAI chat.completions chunk. */
interface DirectChunk {
  choices?: Array<{ delta?: { content?: unknown } }>;
  usage?: { prompt_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
}

async function directTurn(url: string, messages: ChatMessage[]): Promise<{ side: SideTurn; text: string }> {
  const t0 = performance.now();
  let ttfbMs = NaN;
  let text = '';
  let usage: DirectChunk['usage'];
  await stream<DirectChunk | null>(url, DIRECT_KEY, { model: MODEL, messages, stream: true, stream_options: { include_usage: true } }, (chunk) => {
    const content = chunk?.choices?.[0]?.delta?.content;
    if (typeof content === 'string' && content) {
      if (!text) ttfbMs = performance.now() - t0;
      text += content;
    }
    if (chunk?.usage) usage = chunk.usage;
  });
  return { side: { ttfbMs, promptTokens: usage?.prompt_tokens ?? 0, cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0 }, text };
}

async function throughTurn(
  baseUrl: string,
  key: string,
  agentId: string,
  body: { message: string; user_id: string; session_id?: string },
): Promise<{ side: SessionTurn['through']; sessionId: string }> {
  const t0 = performance.now();
  let ttfbMs = NaN;
  let done: Extract<AgentEvent, { chunk_type: 'done' }> | undefined;
  let failure: Extract<AgentEvent, { chunk_type: 'error' }> | undefined;
  let sessionId = body.session_id ?? '';
  await stream<AgentEvent>(`${baseUrl}/api/v1/agents/${agentId}/chat/stream`, key, body, (e) => {
    if (e.chunk_type === 'start') sessionId = e.session_id;
    else if (e.chunk_type === 'content' && Number.isNaN(ttfbMs)) ttfbMs = performance.now() - t0;
    else if (e.chunk_type === 'done') done = e;
    else if (e.chunk_type === 'error') failure = e;
  });
  if (!done) throw new Error(`the turn through agentmem failed: ${JSON.stringify(failure)}`);
  return {
    side: {
      ttfbMs,
      promptTokens: done.usage?.prompt_tokens ?? 0,
      cachedTokens: done.usage?.cached_prompt_tokens ?? 0,
      upstreamTtfbMs: done.timings?.upstream_ttfb,
    },
    sessionId,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

/** The per-turn table and the summary, as printed. */
export function formatSessionReport(r: SessionBenchResult): string {
  const rows = r.turns.map((t) =>
    [
      String(t.turn).padStart(4),
      fmtMs(t.direct.ttfbMs).padStart(9),
      fmtMs(t.through.ttfbMs).padStart(10),
      `${t.direct.promptTokens} (${t.direct.cachedTokens})`.padStart(22),
      `${t.through.promptTokens} (${t.through.cachedTokens})`.padStart(23),
    ].join('  '),
  );
  const side = (name: string, s: SideSummary) =>
    `${name.padEnd(8)}  median first content ${fmtMs(s.medianTtfbMs)} ms · cached ${pct(s.cachedShare)} of ~${Math.round(s.meanPromptTokens)} prompt tokens · billed input ${s.billed.tokens} tokens (${s.billed.cached} cached, ${s.billed.tokens - s.billed.cached} uncached) in ${s.billed.requests} requests`;
  return [
    `agentmem bench --session ${r.turns.length} · profile ${r.profile} · ${r.engine} · window ${r.window}${r.workingMemory ? ' · working memory' : ''}${r.summaries ? ' · summaries' : ''} · ${r.date}`,
    '',
    'turn  direct ms  through ms  direct prompt (cached)  through prompt (cached)',
    ...rows,
    '',
    `turns after ${r.summaryFrom}:`,
    side('direct', r.direct),
    side('through', r.through),
    'billed input: every prompt the emulator served the key (agentmem: chat, extraction and summaries)',
  ].join('\n');
}
