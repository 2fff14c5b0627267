// Growth of the store bounded (issue #26): finished jobs and old memory_history rows are
// purged on a schedule of their own (memory/retention.ts), whatever the job workers do, at
// most AGENTMEM_PURGE_BATCH rows per statement; recent rows and pending jobs stay.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { purgeFinishedJobs } from '../src/store/repos/jobs.ts';
import { engines, startServer, type TestServer, waitFor } from './harness.ts';

const OLD = 2_500;

for (const engine of engines) {
  describe(`retention of jobs and memory history (${engine})`, () => {
    let s: TestServer;
    let org: string;
    before(async () => {
      // a 2 s job retention: the schedule runs every 2 s; history kept 1 day
      s = await startServer(engine, { jobRetentionMs: 2_000, memoryHistoryRetentionDays: 1, purgeBatch: 1_000 });
      org = (await s.api('GET', '/api/v1/me')).body.org_id;
    });
    after(() => s?.close());

    const count = async (sql: string) => Number((await s.app.db.query<{ n: number }>(sql, [org]))[0]!.n);
    const jobs = (status: string, age: string, n: number) =>
      s.app.db.query(
        `insert into jobs (id, org_id, kind, payload, status, run_at, updated_at)
         select gen_random_uuid(), $1, 'noop', '{}', $2, now() + interval '1 day', now() - $3::interval from generate_series(1, $4)`,
        [org, status, age, n],
      );
    const history = (age: string, n: number) =>
      s.app.db.query(
        `insert into memory_history (id, org_id, memory_id, event, new_content, source, created_at)
         select gen_random_uuid(), $1, gen_random_uuid(), 'ADD', 'old words', 'test', now() - $2::interval from generate_series(1, $3)`,
        [org, age, n],
      );

    test('one purge statement deletes at most its batch', async () => {
      await jobs('done', '1 hour', 30);
      // a racing schedule may take some first; never more than the batch per statement
      const n = await purgeFinishedJobs(s.app.db, 1_000, 10);
      assert.ok(n <= 10, `deleted ${n}`);
    });

    test(`${OLD} old finished jobs and ${OLD} history rows older than the retention go; recent ones and pending jobs stay`, async () => {
      await jobs('done', '2 hours', OLD);
      await jobs('failed', '2 hours', 10);
      await jobs('pending', '2 hours', 7); // never finished: not the purge's
      await jobs('done', '-1 hour', 5); // "ended in the future": younger than any retention
      await history('2 days', OLD);
      await history('1 hour', 9);
      await waitFor(
        'the old rows purged',
        async () =>
          (await count(`select count(*)::int as n from jobs where org_id = $1 and kind = 'noop' and status in ('done', 'failed') and updated_at < now()`)) ===
            0 && (await count(`select count(*)::int as n from memory_history where org_id = $1 and created_at < now() - interval '1 day'`)) === 0,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      assert.equal(await count(`select count(*)::int as n from jobs where org_id = $1 and kind = 'noop' and status = 'pending'`), 7);
      assert.equal(await count(`select count(*)::int as n from jobs where org_id = $1 and kind = 'noop' and status = 'done'`), 5);
      assert.equal(await count(`select count(*)::int as n from memory_history where org_id = $1 and source = 'test'`), 9);
    });
  });
}
