// Extraction that costs less and sees more (memory.extract {model, every_turns, idle_ms,
// window_tokens}), over real sockets on both engines: a cheaper model is the one asked, the
// prompt carries the recent window as context, several exchanges go into one call, and a
// session that must go quiet first gets one extraction for all it said. Then the answers:
// the emulator's `~extraction=` modes answer as real models do (well-formed in a fence,
// unknown ids, no JSON, JSON cut off), and what agentmem applies is read back over HTTP.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { UNKNOWN_IDS } from '../src/emulator/extraction.ts';
import { optionPath } from '../src/emulator/options.ts';
import { EXTRACTION_MARKER } from '../src/llm/task-markers.ts';
import { chatOf, engines, streamChat, type MemoryRow, type TestServer, serverAndEmulator, waitFor } from './harness.ts';

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };

for (const engine of engines) {
  describe(`extraction settings on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));
    const memoriesOf = async (agentId: string, user: string) =>
      ((await s.api('GET', `/api/v1/memories?agent_id=${agentId}&user_id=${user}`)).body.data as MemoryRow[]).map((m) => m.content).sort();
    const extractionJobs = async (agentId: string) =>
      (await s.app.db.query<{ n: number }>(`select count(*)::int as n from jobs where kind = 'memory.extract' and payload->>'agent_id' = $1`, [agentId]))[0]!.n;

    test('memory.extract.model is the model asked, and it sees the recent window as context', async () => {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'cheap-extractor',
            llm: { provider: 'openai-compatible', model: 'gpt-4o', api_key: 'k', base_url: `${emu.url}/v1` },
            memory: { extract: { model: 'gpt-4o-mini' } },
            streaming: { emit_memory_updates: true },
          },
        })
      ).body;
      const first = await streamChat(s, agent.id, { message: 'I live in Berlin.', user_id: 'lis' });
      const from = emu.requests.length;
      await streamChat(s, agent.id, { message: 'No, I moved to Lisbon.', session_id: first.events[0].session_id });
      const asked = emu.requests.slice(from).filter((r) => chatOf(r).messages[0]!.content.startsWith(EXTRACTION_MARKER));
      assert.equal(asked.length, 1);
      assert.equal(chatOf(asked[0]!).model, 'gpt-4o-mini');
      const input = JSON.parse(chatOf(asked[0]!).messages[1]!.content);
      assert.deepEqual(
        input.conversation.map((m: { role: string }) => m.role),
        ['user', 'assistant'],
      );
      assert.equal(input.conversation[0].content, 'No, I moved to Lisbon.');
      assert.equal(input.context[0].content, 'I live in Berlin.', 'the earlier exchange is context');
      const chat = emu.requests.slice(from).filter((r) => !chatOf(r).messages[0]!.content.startsWith(EXTRACTION_MARKER));
      assert.ok(
        chat.every((r) => chatOf(r).model === 'gpt-4o'),
        'the chat stays on its own model',
      );
    });

    test('every_turns batches several exchanges into one extraction call', async () => {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: { name: 'batcher', llm: fast, memory: { extract: { every_turns: 3 } }, streaming: { emit_memory_updates: true } },
        })
      ).body;
      const one = await streamChat(s, agent.id, { message: 'My name is Ada.', user_id: 'ada3' });
      const session = one.events[0].session_id;
      const two = await streamChat(s, agent.id, { message: 'I live in Porto.', session_id: session });
      assert.deepEqual(
        [...one.events, ...two.events].filter((e) => e.chunk_type === 'memory_update'),
        [],
        'nothing extracted before the third exchange',
      );
      assert.equal(await extractionJobs(agent.id), 0);
      const three = await streamChat(s, agent.id, { message: 'I like green tea.', session_id: session });
      const updates = three.events.filter((e) => e.chunk_type === 'memory_update');
      assert.deepEqual(updates.map((u) => u.content).sort(), ['I like green tea', 'I live in Porto', 'My name is Ada']);
      assert.equal(await extractionJobs(agent.id), 1, 'one call for three exchanges');
    });

    test('idle_ms waits until the session is quiet, then extracts everything since, once', async () => {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: { name: 'patient', llm: fast, memory: { extract: { idle_ms: 700 } }, streaming: { emit_memory_updates: true } },
        })
      ).body;
      const one = await streamChat(s, agent.id, { message: 'My name is Noor.', user_id: 'noor' });
      const session = one.events[0].session_id;
      await streamChat(s, agent.id, { message: 'I live in Oslo.', session_id: session });
      const last = await streamChat(s, agent.id, { message: 'I play the violin.', session_id: session });
      assert.deepEqual(
        last.events.filter((e) => e.chunk_type === 'memory_update'),
        [],
        'the stream does not wait for quiet',
      );
      assert.deepEqual(await memoriesOf(agent.id, 'noor'), [], 'nothing while the session is busy');
      const found = await waitFor(
        'three memories once the session is quiet',
        async () => {
          const m = await memoriesOf(agent.id, 'noor');
          assert.equal(m.length, 3, JSON.stringify(m));
          return m;
        },
        { timeoutMs: 15_000, intervalMs: 50 },
      );
      assert.deepEqual(found, ['I live in Oslo', 'I play the violin', 'My name is Noor']);
      // All three came from one extraction (one source), though three jobs were queued.
      const sources = await s.app.db.query<{ source: string }>(
        `select distinct h.source from memory_history h join memories m on m.id = h.memory_id where m.agent_id = $1`,
        [agent.id],
      );
      assert.equal(sources.length, 1, JSON.stringify(sources));
      assert.equal(await extractionJobs(agent.id), 3);
    });

    // Two memories the chat's words are close to, so both are listed as `existing`.
    const SEEDS = ['The user lives in Berlin and drinks black coffee.', 'The user used to live in Madrid and drink coffee.'];
    const MESSAGE = 'I moved from Berlin to Lisbon and now I drink green tea instead of coffee.';
    async function extractVia(mode: string, user: string) {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: `extract-${mode}`,
            llm: { provider: 'openai-compatible', model: 'gpt-4o', api_key: 'k', base_url: `${emu.url}${optionPath({ extraction: mode })}/v1`, max_retries: 0 },
            memory: { extract: true },
            streaming: { emit_memory_updates: true },
          },
        })
      ).body;
      const seeded = new Map<string, string>();
      for (const content of SEEDS) {
        const res = await s.api('POST', '/api/v1/memories', { body: { content, agent_id: agent.id, user_id: user } });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        seeded.set(content, res.body.id);
      }
      const from = emu.requests.length;
      const chat = await streamChat(s, agent.id, { message: MESSAGE, user_id: user });
      assert.equal(chat.events.at(-1).chunk_type, 'done', 'the chat itself is answered as usual');
      // (the emulator echoes the user's message as sent: the recalled memories' block, then the message)
      assert.ok(chat.text.startsWith('Echo: ') && chat.text.endsWith(MESSAGE), `the chat request got its usual answer, not an extraction one: ${chat.text}`);
      const asked = emu.requests.slice(from).filter((r) => chatOf(r).messages[0]!.content.startsWith(EXTRACTION_MARKER));
      assert.equal(asked.length, 1, 'one extraction request');
      const existing: Array<{ id: string; text: string }> = JSON.parse(chatOf(asked[0]!).messages.at(-1)!.content).existing;
      assert.deepEqual(existing.map((m) => m.text).sort(), [...SEEDS].sort(), 'both seeds listed as existing');
      const updates = chat.events.filter((e) => e.chunk_type === 'memory_update');
      const memories = ((await s.api('GET', `/api/v1/memories?agent_id=${agent.id}&user_id=${user}`)).body.data as MemoryRow[]).map((m) => [m.id, m.content]);
      return { seeded, existing, updates, memories: new Map<string, string>(memories as Array<[string, string]>) };
    }

    test('extraction answer, well-formed (fenced, with prose): ADD, UPDATE and DELETE applied to the ids sent', async () => {
      const r = await extractVia('well_formed', 'wf');
      const [first, last] = [r.existing[0]!, r.existing.at(-1)!];
      assert.deepEqual(r.updates.map((u) => u.event).sort(), ['ADD', 'DELETE', 'UPDATE']);
      assert.equal(r.memories.get(r.seeded.get(first.text)!), `${first.text} (updated)`, 'short id 0 became the memory it stood for');
      assert.equal(r.memories.has(r.seeded.get(last.text)!), false, 'the last existing memory was deleted');
      assert.ok([...r.memories.values()].includes(MESSAGE), 'the new fact was added');
      assert.equal(r.memories.size, 2);
    });

    test('extraction answer with ids the request never listed: only the ADD is applied', async () => {
      const r = await extractVia('unknown_ids', 'uk');
      assert.deepEqual(
        r.updates.map((u) => u.event),
        ['ADD'],
      );
      for (const [content, id] of r.seeded) assert.equal(r.memories.get(id), content, `${content}: untouched by ${UNKNOWN_IDS.join(', ')}`);
      assert.equal(r.memories.size, 3);
    });

    for (const mode of ['malformed', 'partial']) {
      test(`extraction answer ${mode === 'partial' ? 'cut off mid-JSON' : 'with no JSON'}: nothing applied, the chat unharmed`, async () => {
        const r = await extractVia(mode, mode);
        assert.deepEqual(r.updates, []);
        assert.deepEqual([...r.memories.entries()].sort(), [...r.seeded.entries()].map(([c, id]) => [id, c]).sort());
      });
    }
  });
}
