// Upstream sockets go back to the pool after every response: 100 turns on a fresh server
// open at most 2 connections to the model provider (the chat, and an extraction that may
// overlap the next turn), not one or two per turn. The emulator counts the TCP
// connections it accepts, which is what a provider's TLS handshakes would cost.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { engines, startServer, streamChat, type TestServer } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

const TURNS = 100;
const MEMORY_OFF = { last_messages: 0, semantic_recall: { enabled: false }, extract: false };

for (const engine of engines) {
  describe(`upstream connection reuse on ${engine}`, () => {
    let s: TestServer;
    const emulators: Emulator[] = [];
    // One emulator per case: a fresh origin for the server's pool, and a count of its own.
    const emulator = async () => {
      const emu = await startEmulator({ port: 0, profile: 'instant' });
      emulators.push(emu);
      return emu;
    };
    before(async () => {
      s = await startServer(engine);
    });
    after(async () => {
      await s?.close();
      await Promise.all(emulators.map((e) => e.close()));
    });

    async function turns(agentId: string, userId?: string): Promise<void> {
      for (let i = 0; i < TURNS; i++) {
        const { events } = await streamChat(s, agentId, { message: `turn ${i}: my favourite number is ${i}`, ...(userId ? { user_id: userId } : {}) });
        assert.equal(events.at(-1)?.chunk_type, 'done', `turn ${i}: ${JSON.stringify(events.at(-1))}`);
      }
    }

    async function agent(body: object): Promise<string> {
      const res = await s.api('POST', '/api/v1/agents', { body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id;
    }

    test(`${TURNS} turns with memory off open at most 2 connections`, async () => {
      const emu = await emulator();
      const id = await agent({
        name: 'plain',
        llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: `${emu.url}/v1`, api_key: 'k' },
        memory: MEMORY_OFF,
      });
      await turns(id);
      assert.equal(emu.requests.length, TURNS);
      assert.ok(emu.connections <= 2, `${emu.connections} connections accepted for ${TURNS} turns`);
    });

    test(`${TURNS} turns with memory on (recall, extraction, a remote embedder) open at most 2 connections to each upstream`, async () => {
      const [chat, embed] = [await emulator(), await emulator()];
      const id = await agent({
        name: 'rememberer',
        llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: `${chat.url}/v1`, api_key: 'k' },
        memory: { embedder: { provider: 'openai-compatible', model: 'text-embedding-3-small', dimensions: 64, base_url: `${embed.url}/v1`, api_key: 'k' } },
      });
      await turns(id, 'ada');
      await settled(() => chat.requests.length + embed.embeddings.length);
      const extractions = chat.requests.length - TURNS;
      assert.ok(extractions > 0, 'extraction ran: its requests count too');
      // Each turn's message is embedded once (recall, extraction's search and the next pool share it).
      assert.ok(embed.embeddings.length >= TURNS, `every turn's query embedded through the emulator (${embed.embeddings.length} calls)`);
      assert.ok(chat.connections <= 2, `${chat.connections} connections to the model for ${chat.requests.length} requests`);
      assert.ok(embed.connections <= 2, `${embed.connections} connections to the embedder for ${embed.embeddings.length} requests`);
    });

    test('clients that leave as soon as the answer is in cost no upstream connection', async () => {
      const emu = await emulator();
      const answer = 'one two three four five six seven eight';
      const id = await agent({
        name: 'left',
        llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: `${emu.url}${optionPath({ text: answer })}/v1`, api_key: 'k' },
        memory: MEMORY_OFF,
      });
      for (let i = 0; i < 30; i++) {
        const controller = new AbortController();
        const res = await fetch(`${s.url}/api/v1/agents/${id}/chat/stream`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'go' }),
          signal: controller.signal,
        });
        // read until the whole answer has arrived, then hang up before (or as) `done` comes
        let seen = '';
        const reader = res.body!.getReader();
        while (!seen.includes('eight')) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += Buffer.from(value).toString();
        }
        controller.abort();
        await reader.cancel().catch(() => {});
      }
      await settled(() => emu.requests.filter((r) => r.closedAt !== undefined).length);
      assert.equal(emu.requests.length, 30);
      assert.ok(emu.connections <= 2, `${emu.connections} connections accepted for 30 turns whose client left`);
    });

    test(`${TURNS} turns of a Zhipu GLM agent open at most 2 connections`, async () => {
      const emu = await emulator();
      const id = await agent({
        name: 'glm',
        llm: { provider: 'zhipu', model: 'glm-4-flash', auth: 'jwt', api_key: 'kid.ksecret', base_url: `${emu.url}/api/paas/v4` },
        memory: MEMORY_OFF,
      });
      await turns(id);
      assert.equal(emu.requests.length, TURNS);
      assert.ok(emu.connections <= 2, `${emu.connections} connections accepted for ${TURNS} turns`);
    });
  });
}

/** Waits until a counter stops moving (background extraction and embedding finish). */
async function settled(count: () => number): Promise<void> {
  let last = -1;
  for (let still = 0; still < 5; await new Promise((r) => setTimeout(r, 100))) {
    const now = count();
    still = now === last ? still + 1 : 0;
    last = now;
  }
}
