// Forgetting, on both engines over HTTP: deleting a user leaves no history row of any of
// their memories (those deleted earlier included) and no job holding their words; another
// org's user of the same id keeps everything. Finished jobs go after AGENTMEM_JOB_RETENTION_MS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createOrg, engines, startServer, streamChat, type HistoryEvent, type TestServer, waitFor } from './harness.ts';

const RETENTION_MS = 2_000;

for (const engine of engines) {
  describe(`forgetting on ${engine}`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(engine, { jobRetentionMs: RETENTION_MS });
    });
    after(async () => {
      await s?.close();
    });
    /** What the store holds that mentions `text` (history rows, job payloads, messages). */
    const traces = async (orgId: string, text: string) => {
      const like = `%${text}%`;
      const [h, j, m] = await Promise.all([
        s.app.db.query(`select 1 from memory_history where org_id = $1 and (coalesce(old_content, '') || coalesce(new_content, '')) like $2`, [orgId, like]),
        s.app.db.query(`select 1 from jobs where org_id = $1 and payload::text like $2`, [orgId, like]),
        s.app.db.query(`select 1 from messages where org_id = $1 and content like $2`, [orgId, like]),
      ]);
      return { history: h.length, jobs: j.length, messages: m.length };
    };

    test("deleting a user removes every history row of their memories and their text in jobs; another org's same id keeps theirs", async () => {
      const me = (await s.api('GET', '/api/v1/me')).body;
      const other = await createOrg(s.api, `forget-${engine}`);
      const agentBody = { name: 'forgetful', memory: { extract: true } };
      const mine = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const theirs = (await s.api('POST', '/api/v1/agents', { key: other.key, body: agentBody })).body;
      const deletedEarly = new Map<string, string>(); // key → the id of the memory deleted before the user
      for (const [key, agent] of [
        [s.adminKey, mine],
        [other.key, theirs],
      ] as const) {
        assert.equal((await s.api('POST', '/api/v1/users', { key, body: { id: 'ann' } })).status, 201);
        // A memory deleted long before the user: its events stay (their content erased by the delete) until the user goes.
        const early = await s.api('POST', '/api/v1/memories', { key, body: { agent_id: agent.id, user_id: 'ann', content: 'Ann once lived in Quito' } });
        assert.equal((await s.api('DELETE', `/api/v1/memories/${early.body.id}`, { key })).status, 204);
        deletedEarly.set(key, early.body.id);
        const kept = await s.api('POST', '/api/v1/memories', { key, body: { agent_id: agent.id, user_id: 'ann', content: 'Ann likes Quokkas' } });
        assert.equal((await s.api('PATCH', `/api/v1/memories/${kept.body.id}`, { key, body: { content: 'Ann loves Quokkas' } })).status, 200);
        // A turn: its words go into an extraction job's payload.
        const turn = await streamChat(s, agent.id, { message: 'My passphrase is Quetzalcoatl.', user_id: 'ann' }, key);
        assert.equal(turn.events.at(-1).chunk_type, 'done');
      }
      const myOrg = me.org_id as string;
      const before = await traces(myOrg, 'Qu');
      // Quokkas: ADD and UPDATE; the passphrase: ADD (Quito's content went with its delete)
      assert.ok(before.history >= 3 && before.jobs >= 1 && before.messages >= 1, `there is something to forget: ${JSON.stringify(before)}`);
      const historyOf = (key: string) => s.api('GET', `/api/v1/memories/${deletedEarly.get(key)}/history`, { key });
      const readable = await historyOf(s.adminKey);
      assert.equal(readable.status, 200, 'a deleted memory keeps its events while its user exists');
      assert.ok(
        readable.body.data.every((e: HistoryEvent) => e.old_content === null && e.new_content === null),
        'without the content the delete erased',
      );
      assert.deepEqual(
        readable.body.data.map((e: HistoryEvent) => e.event),
        ['ADD', 'DELETE'],
      );

      assert.equal((await s.api('DELETE', '/api/v1/users/ann')).status, 200);
      assert.deepEqual(await traces(myOrg, 'Qu'), { history: 0, jobs: 0, messages: 0 }, 'nothing of Ann left');
      assert.equal((await historyOf(s.adminKey)).status, 404, 'the history went with the user');
      assert.equal((await historyOf(other.key)).status, 200, "the other org's Ann keeps hers");
      const theirsLeft = await traces(other.id, 'Qu');
      assert.ok(theirsLeft.history >= 3 && theirsLeft.messages >= 1, `the other org's Ann is untouched: ${JSON.stringify(theirsLeft)}`);
    });

    test('finished jobs are purged after the retention; pending ones and recent ones stay', async () => {
      const me = (await s.api('GET', '/api/v1/me')).body;
      const org = me.org_id;
      const insert = (key: string, status: string, age: string) =>
        s.app.db.query(
          `insert into jobs (id, org_id, kind, payload, idempotency_key, status, run_at, updated_at)
           values (gen_random_uuid(), $1, 'noop', '{}', $2, $3, now() + interval '1 day', now() - $4::interval)`,
          [org, key, status, age],
        );
      await insert('old-done', 'done', '1 hour');
      await insert('old-failed', 'failed', '1 hour');
      await insert('old-pending', 'pending', '1 hour'); // not due (run_at tomorrow), never finished
      await insert('recent-done', 'done', '-1 hour'); // ended "in the future": younger than any retention
      const left = async () =>
        (
          await s.app.db.query<{ idempotency_key: string }>(
            `select idempotency_key from jobs where idempotency_key in ('old-done', 'old-failed', 'old-pending', 'recent-done') order by 1`,
          )
        ).map((r) => r.idempotency_key);
      await waitFor('the old finished jobs purged', async () => !(await left()).some((k) => k.startsWith('old-d') || k === 'old-failed'), {
        timeoutMs: RETENTION_MS * 5,
        intervalMs: 100,
      });
      assert.deepEqual(await left(), ['old-pending', 'recent-done']);
    });
  });
}
