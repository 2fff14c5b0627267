// Checkpoints of a streaming answer append what is new (not the whole answer every second),
// and still leave the stored copy exactly what was said: a character split across two
// deltas is stored whole, and a stored copy that is not what was sent (a write whose answer
// was lost) is replaced by the whole text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHistory } from '../src/memory/history.ts';
import { engines, startServer, waitFor } from './harness.ts';

for (const engine of engines) {
  describe(`checkpoints, ${engine}`, () => {
    test('appended, a split character whole, a lost write repaired by the whole text', async () => {
      const s = await startServer(engine);
      try {
        const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'cp' } })).body;
        const { org_id } = (await s.app.db.query<{ org_id: string }>(`select org_id from agents where id = $1`, [agent.id]))[0]!;
        const history = createHistory(s.app.db);
        const turn = history.begin({ orgId: org_id, agentId: agent.id, userId: null, content: 'hi' });
        await turn.stored;
        const content = () =>
          s.app.db.query<{ content: string }>(`select content from messages where id = $1`, [turn.assistantMessageId]).then((r) => r[0]!.content);
        // (a checkpoint is written in the background: the stored copy gets there in its time)
        const until = (what: string, want: string) => waitFor(what, async () => (assert.equal(await content(), want), true), { timeoutMs: 5_000 });
        let said = '';
        const add = (t: string) => {
          said += t;
          history.checkpoint(turn, t, () => said);
        };
        add('Hello, ');
        add('wörld \ud83d'); // the emoji's high surrogate ends this delta…
        await until('the first part', 'Hello, wörld ');
        add('\ude00 and'); // …its low one starts the next
        await until('appended, the emoji whole', 'Hello, wörld 😀 and');
        // A write the store took but whose answer was lost: the stored copy is not what was sent.
        await s.app.db.query(`update messages set content = 'Hello' where id = $1`, [turn.assistantMessageId]);
        add(' more');
        await until('the whole text, not a splice', 'Hello, wörld 😀 and more');
        add('!');
        await until('appending again', 'Hello, wörld 😀 and more!');
        await history.finish(turn, {
          content: said,
          status: 'complete',
          finish_reason: 'stop',
          usage: null,
          timings: null,
          error: null,
          tool_calls: null,
          reasoning: null,
        });
        add(' late');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(await content(), 'Hello, wörld 😀 and more!', 'a finished answer is never touched');
      } finally {
        await s.close();
      }
    });
  });
}
