// Nothing before the first token that the recall budget does not cover: with an embedder
// that answers in 3 s and a 50 ms budget, every turn's first token comes at about the
// budget (the first turn and the later ones, whose predicted pool is ready), recall goes on
// without the late vector (text side alone), the query is embedded once per turn, and the trace's critical path adds up to first_byte. The figures
// are reported per turn; the bound asserted leaves a loaded CI machine room (1 s over the
// budget), still far below the embedder's 3 s.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { engines, readSse, type TestServer, serverAndEmulator } from './harness.ts';

const EMBED_MS = 3_000;
const BUDGET_MS = 50;
// generous for a loaded 2-core machine (505 ms was seen at load 15); the slow embedder alone would be 3000
const MARGIN_MS = 1_000;

const inputsOf = (r: { body: unknown }): string[] => {
  const input = (r.body as { input?: unknown } | undefined)?.input;
  return Array.isArray(input) ? input : typeof input === 'string' ? [input] : [];
};

for (const engine of engines) {
  describe(`recall budget on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    test(`a ${EMBED_MS} ms embedder, budget ${BUDGET_MS} ms: every turn's first token within the budget, one query embedding per turn`, async (ctx) => {
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'slow-embedder',
            memory: {
              recall_budget_ms: BUDGET_MS,
              extract: false,
              embedder: { provider: 'openai-compatible', base_url: `${emu.url}/~embed_ms=${EMBED_MS}/v1`, api_key: 'k', model: 'emb', dimensions: 64 },
            },
          },
        })
      ).body;
      const user = 'sloane';
      // Memories for the pool to hold: without any, there is nothing to predict.
      const added = await s.api('POST', '/api/v1/memories/batch', {
        body: {
          memories: ['Sloane lives in Lisbon', 'Sloane drinks green tea', 'Sloane rides a bike to work'].map((content) => ({
            content,
            agent_id: agent.id,
            user_id: user,
          })),
        },
      });
      assert.equal(added.status, 201, JSON.stringify(added.body));

      // Warm (connections, lazy modules, compiled schemas) with another user: the turns below measure recall, not a cold start.
      await (
        await fetch(`${s.url}/api/v1/agents/${agent.id}/chat`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'warm up', user_id: 'warm' }),
        })
      ).text();

      const messages = ['Where does Sloane live?', 'What tea does Sloane drink?', 'How does Sloane get to work?', 'Does Sloane live in Lisbon?'];
      let sessionId: string | undefined;
      for (const [i, message] of messages.entries()) {
        if (i > 0) await poolPrepared(emu, messages[i - 1]!);
        const t0 = performance.now();
        let firstContent: number | undefined;
        const res = await fetch(`${s.url}/api/v1/agents/${agent.id}/chat/stream`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message, user_id: user, ...(sessionId ? { session_id: sessionId } : {}) }),
        });
        assert.equal(res.status, 200);
        const frames = await readSse(res, (f) => {
          if (f.data.chunk_type === 'content') firstContent ??= performance.now() - t0;
        });
        const done = frames.at(-1)!.data;
        assert.equal(done.chunk_type, 'done', JSON.stringify(done));
        sessionId = done.session_id;
        const t = done.timings;
        ctx.diagnostic(
          `turn ${i + 1}: first content after ${firstContent?.toFixed(1)} ms at the client; first_byte ${t.first_byte} ms, recall ${t.recall} ms (${t.skipped?.recall}); path ${JSON.stringify(t.critical_path)}`,
        );

        assert.ok(
          firstContent !== undefined && firstContent <= BUDGET_MS + MARGIN_MS,
          `turn ${i + 1}: first token after ${firstContent} ms (${JSON.stringify(t)})`,
        );
        // the late embedding is left behind at 75 % of the budget and the text side answers
        // alone (on a loaded machine the text side may miss the rest of the budget too)
        assert.ok(t.skipped?.recall_embed === 'budget' || t.skipped?.recall === 'budget', `turn ${i + 1}: ${JSON.stringify(t)}`);
        assert.equal(t.recall_embed, undefined, 'the late embedding is not recorded as done');
        assert.ok(t.recall < BUDGET_MS + MARGIN_MS, `turn ${i + 1}: recall ${t.recall} ms`);
        const path: Array<[string, number]> = t.critical_path;
        const sum = path.reduce((acc, [, ms]) => acc + ms, 0);
        assert.ok(Math.abs(sum - t.first_byte) <= 1, `turn ${i + 1}: critical path ${JSON.stringify(path)} sums to ${sum}, first_byte ${t.first_byte}`);
        assert.ok(
          path.some(([stage]) => stage === 'recall'),
          `recall is what the prompt waited for: ${JSON.stringify(path)}`,
        );
        // The query went to the embedder once: not once for the pool and again for the search.
        const asked = emu.embeddings.filter((r) => inputsOf(r).includes(message));
        assert.equal(asked.length, 1, `turn ${i + 1}: ${asked.length} embedding requests for the query`);
      }
    });
  });
}

/**
 * Waits until the pool for the turn after `message` can be ready: it is that message's
 * nearest memories, searched by its vector (the one recall asked for, answered after the
 * budget), plus a moment for the search.
 */
async function poolPrepared(emu: Emulator, message: string) {
  const end = Date.now() + 15_000;
  const ready = () => emu.embeddings.some((r) => r.closedAt !== undefined && inputsOf(r).includes(message));
  while (!ready() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(ready(), `the pool after "${message}" was prepared`);
  await new Promise((r) => setTimeout(r, 300));
}
