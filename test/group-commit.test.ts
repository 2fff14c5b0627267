// Group commit end to end (store/group-commit.ts): turns that arrive together have their
// first and last writes grouped into shared statements, and every turn is still stored
// whole and in order — new sessions created, each question before its answer, each answer
// complete — on both engines. /metrics shows the statements' sizes. Finished jobs are
// marked done in groups too (memory/jobs.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emulatorAgent, engines, messagesOf, serverAndEmulator, streamChat, type ServerAndEmulator, type StoredMessage } from './harness.ts';

/** count and sum of agentmem_store_write_batch_size{write} */
async function batches(w: ServerAndEmulator, write: 'begin' | 'finish') {
  const text = await (await fetch(`${w.s.url}/metrics`, { headers: { authorization: `Bearer ${w.s.adminKey}` } })).text();
  const v = (name: string) => Number(new RegExp(`^agentmem_store_write_batch_size_${name}\\{write="${write}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { statements: v('count'), turns: v('sum') };
}

for (const engine of engines) {
  describe(`group commit, ${engine}`, () => {
    let w: ServerAndEmulator;
    serverAndEmulator(engine, (x) => (w = x));

    test('32 turns at once: fewer statements than turns, and every turn stored whole, in order', async () => {
      const agent = await emulatorAgent(w.s, w.emu, { text: 'An answer of several words.' }, { memory: { extract: false } });
      const before = { begin: await batches(w, 'begin'), finish: await batches(w, 'finish') };
      const N = 32;
      const first = await Promise.all(Array.from({ length: N }, (_, i) => streamChat(w.s, agent.id, { message: `question ${i}`, user_id: `u${i % 4}` })));
      // second turns on the same sessions, at once: one turn per session per statement
      const second = await Promise.all(first.map((t, i) => streamChat(w.s, agent.id, { message: `again ${i}`, session_id: t.events[0].session_id })));
      for (const t of [...first, ...second]) assert.equal(t.events.at(-1).chunk_type, 'done', JSON.stringify(t.events.at(-1)));

      for (let i = 0; i < N; i++) {
        const stored = await messagesOf(w.s, first[i]!.events[0].session_id);
        assert.deepEqual(
          stored.map((m: StoredMessage) => [m.role, m.status, m.content]),
          [
            ['user', 'complete', `question ${i}`],
            ['assistant', 'complete', 'An answer of several words.'],
            ['user', 'complete', `again ${i}`],
            ['assistant', 'complete', 'An answer of several words.'],
          ],
        );
        assert.equal(stored[1].id, first[i]!.events[0].message_id);
      }

      const after = { begin: await batches(w, 'begin'), finish: await batches(w, 'finish') };
      for (const write of ['begin', 'finish'] as const) {
        const turns = after[write].turns - before[write].turns;
        const statements = after[write].statements - before[write].statements;
        assert.equal(turns, 2 * N, `${write}: every turn counted once`);
        assert.ok(statements < turns, `${write}: ${turns} turns in ${statements} statements`);
      }
    });

    test('extraction jobs finished together are all marked done (in groups, shortly after)', async () => {
      const agent = await emulatorAgent(w.s, w.emu, { text: 'Noted.' });
      const turns = await Promise.all(
        Array.from({ length: 16 }, (_, i) => streamChat(w.s, agent.id, { message: `I live in city number ${i}.`, user_id: `x${i}` })),
      );
      for (const t of turns) assert.equal(t.events.at(-1).chunk_type, 'done');
      const statuses = async () =>
        (await w.s.app.db.query<{ status: string }>(`select status from jobs where kind = 'memory.extract' and payload->>'agent_id' = $1`, [agent.id])).map(
          (r) => r.status,
        );
      let seen: string[] = [];
      for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        seen = await statuses();
        if (seen.length === 16 && seen.every((x) => x === 'done')) break;
      }
      assert.deepEqual(seen, Array(16).fill('done'));
    });
  });
}
