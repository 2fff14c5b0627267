// A prompt whose prefix stays put (issue 25), over real sockets on both engines: a long
// session with recall over 40 memories, working memory, rolling summaries and a window
// that fills, against the emulator, which records every upstream request. Of each prompt,
// the share a provider's prefix cache could serve from the previous turn's prompt is
// measured as OpenAI caches (o200k tokens, from 1,024 tokens on, in 128-token blocks),
// and the recalled memories still reach the model on the turn they are relevant to.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { optionPath } from '../src/emulator/options.ts';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import {
  apiClient,
  chatOf,
  engines,
  restartableServer,
  needsRedis,
  serverAndEmulator,
  testRedis,
  twoInstances,
  type Api,
  type SentChat,
  type SentMessage,
  type TestServer,
} from './harness.ts';

/** A prompt as these measures read it: its messages (OpenAI format) and the tools offered. */
export interface Prompt {
  messages: Array<{ role: string; content?: unknown; tool_calls?: unknown }>;
  tools?: unknown[];
}

/** The request as a provider's tokenizer reads it: tools first, then each message on its own. */
export function promptTokens(body: Prompt): number[] {
  const parts: number[][] = [];
  if (body.tools?.length) parts.push(encode(JSON.stringify(body.tools)));
  for (const m of body.messages) {
    parts.push(encode(`<|${m.role}|>`), encode(typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '')));
    if (m.tool_calls) parts.push(encode(JSON.stringify(m.tool_calls)));
  }
  return parts.flat();
}

/** Tokens of `next` a prefix cache holding `previous` serves: OpenAI's rule (1,024 tokens and up, 128-token blocks). */
export function cachedTokens(previous: number[], next: number[]): number {
  if (next.length < 1_024) return 0;
  let same = 0;
  const n = Math.min(previous.length, next.length);
  while (same < n && previous[same] === next[same]) same++;
  return same < 1_024 ? 0 : Math.floor(same / 128) * 128;
}

export interface PrefixShare {
  /** turns measured: after the first five, prompts of 1,024 tokens or more */
  turns: number;
  median: number;
  /** cached tokens over prompt tokens, all measured turns together */
  overall: number;
  min: number;
  /** the share of each measured turn, in order */
  shares: number[];
  meanPromptTokens: number;
}

export function prefixShare(prompts: Prompt[], skip = 5): PrefixShare {
  const tokens = prompts.map(promptTokens);
  const shares: number[] = [];
  let cached = 0;
  let total = 0;
  for (let i = Math.max(1, skip); i < tokens.length; i++) {
    if (tokens[i]!.length < 1_024) continue;
    const c = cachedTokens(tokens[i - 1]!, tokens[i]!);
    shares.push(c / tokens[i]!.length);
    cached += c;
    total += tokens[i]!.length;
  }
  const sorted = [...shares].sort((a, b) => a - b);
  return {
    turns: shares.length,
    median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    overall: total ? cached / total : 0,
    min: sorted[0] ?? 0,
    shares,
    meanPromptTokens: shares.length ? Math.round(total / shares.length) : 0,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

// A system prompt of the size real agents carry (instructions, style, policies): about 1,400 tokens.
const RULES = [
  'Answer in the language the user writes in, and keep the tone friendly and direct.',
  'When the user asks about something they told you before, use what you remember about them.',
  'Prefer short paragraphs; use a list only when the user asks for steps or options.',
  'Never invent facts about the user: when you do not know, say so and ask.',
  'Keep your working memory current: names, places, plans and preferences the user states.',
  'When a request is ambiguous, ask one clarifying question before answering at length.',
  'Dates and times are in the user’s time zone when they gave one, otherwise in UTC.',
  'Summaries of earlier conversation are notes, not quotes: do not attribute exact words to the user from them.',
];
const SYSTEM_PROMPT = [
  'You are Atlas, a personal assistant that remembers the people it talks with across conversations.',
  ...Array.from(
    { length: 24 },
    (_, i) =>
      `${i + 1}. ${RULES[i % RULES.length]} (rule ${i + 1} of the house style: apply it in every answer, also when the user writes briefly or in a hurry, and also when an earlier answer did not.)`,
  ),
  'Tools: you may update your working memory with the working_memory_update tool; do it sparingly.',
].join('\n');

const TOPICS = ['sister', 'bicycle', 'garden', 'piano', 'dentist', 'landlord', 'football club', 'book club', 'running shoes', 'coffee'];
const PLACES = ['Lisbon', 'Porto', 'Madrid', 'Berlin', 'Vienna', 'Prague', 'Krakow', 'Oslo'];
/** The i-th memory about the user: one topic, one place, one number each. */
const memory = (i: number) => `The user's ${TOPICS[i % 10]} story number ${i} happened in ${PLACES[i % 8]} in ${1990 + i}.`;

const TURNS = 50;
const WINDOW = 50;
const question = (t: number) => `Turn ${t}: what do you remember about my ${TOPICS[t % 10]} story number ${t % 40}, and what should I do about it this week?`;

for (const engine of engines) {
  describe(`a prompt whose prefix stays put on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    test(`${TURNS} turns with recall, working memory, summaries and a full window: the previous prompt's prefix is most of each prompt`, async () => {
      const agent = await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'prefix',
          system_prompt: SYSTEM_PROMPT,
          llm: {
            provider: 'openai-compatible',
            model: 'gpt-4o',
            base_url: `${emu.url}${optionPath({ summary: 'digest' })}/v1`,
            api_key: 'sk-emu',
            max_retries: 0,
            max_context_tokens: 10_000,
            max_tokens: 500,
          },
          tools: [{ type: 'memory_search' }, { type: 'memory_save' }],
          memory: {
            last_messages: WINDOW,
            extract: false,
            semantic_recall: { top_k: 5 },
            // generous: this test is about the prompt's prefix, not the deadline (a cold scope's
            // first recall under the suite's load can miss 150 ms: test/cold-scopes.test.ts)
            recall_budget_ms: 10_000,
            working: { enabled: true, template: 'Name:\nCity:\nThis week:' },
            summary: { enabled: true, trigger_tokens: 100_000 },
          },
        },
      });
      assert.equal(agent.status, 201, JSON.stringify(agent.body));
      const agentId = agent.body.id;
      for (let i = 0; i < 40; i++) {
        const res = await s.api('POST', '/api/v1/memories', { body: { content: memory(i), agent_id: agentId, user_id: 'ada' } });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }

      const prompts: SentChat[] = [];
      // What a plain client would send for the same conversation: all of it, appended to, no memory.
      const plain: Prompt[] = [];
      const said: Array<{ role: string; content: string }> = [];
      let sessionId: string | undefined;
      for (let t = 0; t < TURNS; t++) {
        // Working memory changes now and then, as the tool would change it.
        if (t % 8 === 7) {
          const content = `Name: Ada\nCity: ${PLACES[t % 8]}\nThis week: ${TOPICS[t % 10]} (noted on turn ${t})`;
          assert.equal((await s.api('PUT', `/api/v1/agents/${agentId}/working-memory/ada`, { body: { content } })).status, 200);
        }
        const from = emu.requests.length;
        const res = await s.api('POST', `/api/v1/agents/${agentId}/chat`, { body: { message: question(t), user_id: 'ada', session_id: sessionId } });
        assert.equal(res.status, 200, `turn ${t}: ${JSON.stringify(res.body)}`);
        sessionId = res.body.session_id;
        const chat = emu.requests.slice(from).find((r) => String(chatOf(r)?.messages?.at(-1)?.content ?? '').endsWith(question(t)));
        assert.ok(chat, `turn ${t}: the chat request reached the emulator`);
        const body = chatOf(chat);
        prompts.push(body);
        plain.push({ tools: body.tools, messages: [{ role: 'system', content: SYSTEM_PROMPT }, ...said, { role: 'user', content: question(t) }] });
        said.push({ role: 'user', content: question(t) }, { role: 'assistant', content: res.body.content });

        // The memory this turn asks about is in the block beside the user's message, and the model read it.
        const relevant = memory(t % 40);
        const last = body.messages.at(-1)!;
        assert.equal(last.role, 'user');
        assert.match(last.content, /<memory>\n[\s\S]*\n<\/memory>\n\n/, `turn ${t}: the recalled memories are in the user's message`);
        assert.ok(last.content.includes(relevant), `turn ${t}: "${relevant}" was recalled into the prompt`);
        assert.ok(res.body.content.includes(relevant), `turn ${t}: the model's answer could use it`);
        assert.ok(!body.messages[0]!.content.includes('<memory>'), 'no recalled memory in the system message');
        // The window never holds more than memory.last_messages.
        assert.ok(body.messages.length - 2 <= WINDOW, `turn ${t}: ${body.messages.length - 2} history messages`);
        // The summary job (after the turn) has time to land, as between a user's messages.
        await sleep(200);
      }

      const session = (await s.api('GET', `/api/v1/sessions/${sessionId}`)).body;
      assert.ok(session.summary, 'the window filled: a summary was made at a chunk point');
      assert.ok(prompts.at(-1)!.messages[0]!.content.includes('<summary>'), 'the summary is in the prompt');
      const lastNote = TURNS - 1 - ((TURNS - 1 - 7) % 8);
      assert.match(
        prompts.at(-1)!.messages.at(-1)!.content,
        new RegExp(`<working_memory>\nName: Ada\n[^<]*\\(noted on turn ${lastNote}\\)`),
        'the updated working memory is in the prompt',
      );
      const summaries = new Set(prompts.map((p) => /<summary>\n([\s\S]*?)\n<\/summary>/.exec(p.messages[0]!.content)?.[1]).filter(Boolean));
      assert.ok(summaries.size >= 2, `the summary rolled on at chunk points (${summaries.size} versions)`);

      const share = prefixShare(prompts);
      console.log(
        `# prefix share on ${engine}: ${share.turns} prompts (mean ${share.meanPromptTokens} tokens), median ${pct(share.median)}, overall ${pct(share.overall)}, min ${pct(share.min)}; per turn: ${share.shares.map((x) => Math.round(x * 100)).join(' ')}`,
      );
      const direct = prefixShare(plain);
      console.log(`# a plain client, same conversation: mean ${direct.meanPromptTokens} tokens, median ${pct(direct.median)}, overall ${pct(direct.overall)}`);
      assert.ok(share.turns >= 40, `${share.turns} prompts over 1,024 tokens`);
      // The typical turn reuses at least 90 %; the turns at a chunk point (the window gives
      // way and the summary changes, one in about a dozen here) re-read the history.
      assert.ok(share.median >= 0.9, `median share ${pct(share.median)}`);
      assert.ok(share.overall >= 0.85, `overall share ${pct(share.overall)}`);
    });
  });

  describe(`the window's start across a restart on ${engine}`, () => {
    test('after a restart the window starts where it did: the next prompt repeats the last one before it', async () => {
      const store = await restartableServer(engine);
      const key = store.adminKey;
      const start = store.start;
      const emu = await startEmulator({ port: 0, profile: 'instant' });
      let app = await start();
      try {
        let api = apiClient(app.url, key);
        const agent = await api('POST', '/api/v1/agents', {
          body: {
            name: 'window',
            llm: { provider: 'openai-compatible', model: 'gpt-4o', base_url: `${emu.url}/v1`, api_key: 'sk-emu', max_retries: 0 },
            memory: { last_messages: 10, extract: false, semantic_recall: { enabled: false } },
          },
        });
        assert.equal(agent.status, 201, JSON.stringify(agent.body));
        const sent = async (message: string, session_id?: string) => {
          const from = emu.requests.length;
          const res = await api('POST', `/api/v1/agents/${agent.body.id}/chat`, { body: { message, session_id } });
          assert.equal(res.status, 200, JSON.stringify(res.body));
          return { sessionId: res.body.session_id as string, messages: chatOf(emu.requests.slice(from).at(-1)!).messages };
        };
        // 7 exchanges: the window (10 messages) gave way once, on the 7th turn, down to 3 exchanges, and grows again.
        let { sessionId } = await sent('Message 0');
        let before: SentMessage[] = [];
        for (let i = 1; i < 8; i++) before = (await sent(`Message ${i}`, sessionId)).messages;
        const session = (await api('GET', `/api/v1/sessions/${sessionId}`)).body;
        assert.ok(session.window_seq, `the window's start is stored: ${JSON.stringify(session)}`);
        const history = (messages: SentMessage[]) => messages.filter((m) => m.role !== 'system').map((m) => m.content);
        assert.deepEqual(history(before), [
          'Message 3',
          'Echo: Message 3',
          'Message 4',
          'Echo: Message 4',
          'Message 5',
          'Echo: Message 5',
          'Message 6',
          'Echo: Message 6',
          'Message 7',
        ]);

        await app.close();
        app = await start();
        api = apiClient(app.url, key);
        const after = (await sent('Message 8', sessionId)).messages;
        assert.deepEqual(after.slice(0, before.length - 1), before.slice(0, -1), 'the same window, from the same message');
        assert.deepEqual(
          after.slice(before.length - 1).map((m) => [m.role, m.content]),
          [
            ['user', 'Message 7'],
            ['assistant', 'Echo: Message 7'],
            ['user', 'Message 8'],
          ],
          'appended to',
        );
      } finally {
        await app.close();
        await emu.close();
        await store.drop();
      }
    });
  });
}

describe("the window's start across two instances", { skip: (!engines.includes('postgres') && 'needs PostgreSQL') || needsRedis }, () => {
  let a: TestServer;
  let apiB: Api;
  let emu: Emulator;
  twoInstances((w) => ({ a, apiB, emu } = w), { redisUrl: () => testRedis!, secretKey: 'prompt-prefix-test-secret' });

  test('turns served by A and B in turn give way at the same chunk points as one instance would', async () => {
    const agent = await a.api('POST', '/api/v1/agents', {
      body: {
        name: 'window-ab',
        llm: { provider: 'openai-compatible', model: 'gpt-4o', base_url: `${emu.url}/v1`, api_key: 'sk-emu', max_retries: 0 },
        memory: { last_messages: 10, extract: false, semantic_recall: { enabled: false } },
      },
    });
    assert.equal(agent.status, 201, JSON.stringify(agent.body));
    let sessionId: string | undefined;
    let previous: string[] = [];
    const gaveWay: number[] = [];
    const seen: string[] = []; // what each give-way sent, for a failure's message
    for (let t = 0; t < 13; t++) {
      const api = t % 2 ? apiB : a.api;
      const from = emu.requests.length;
      const res = await api('POST', `/api/v1/agents/${agent.body.id}/chat`, { body: { message: `Message ${t}`, session_id: sessionId } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      sessionId = res.body.session_id;
      const messages = chatOf(emu.requests.slice(from).at(-1)!).messages;
      const history = messages.filter((m) => m.role !== 'system').map((m) => m.content);
      const extends_ = previous.length > 0 && JSON.stringify(history.slice(0, previous.length)) === JSON.stringify(previous);
      if (t > 0 && !extends_) {
        gaveWay.push(t);
        seen.push(`turn ${t} (${t % 2 ? 'B' : 'A'}): ${JSON.stringify(history)} after ${JSON.stringify(previous)}`);
      }
      assert.ok(history.length - 1 <= 10, `turn ${t}: ${history.length - 1} messages in the window`);
      previous = history.slice(0, -1).concat(`Message ${t}`);
    }
    // 10 messages at most, down to 5 (from a user's message: 6) when full: every 3rd turn from the 6th.
    assert.deepEqual(gaveWay, [6, 9, 12], seen.join('\n'));
  });
});
