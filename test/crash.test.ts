// A server killed with SIGKILL while it streams an answer: after a restart the cut answer
// is stored `incomplete` (with no more than the text the client had received), the
// user's message is whole, nothing is left `streaming`, no memory extraction was queued
// for the cut answer, and the session goes on. Runs the real CLI as a child process, on
// PostgreSQL (also watching the tables directly) and on the embedded PGlite files.
// A kill during memory extraction is test/jobs-crash.test.ts.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { type SseFrame, type StoredMessage, apiClient, createTestDatabase, engines, readSse, spawnServe } from './harness.ts';

const key = 'am_crash_stream_key_0123456789abcdef';
const LEASE_MS = 1_000;
const question =
  'Tell me everything about the lighthouse keepers of the northern coast, their lamps, storms and long winter nights, ' +
  'the ships they guided home, the letters they wrote, the gulls on the rocks and the bread they baked at dawn';

for (const engine of engines) {
  describe(`kill -9 while streaming, ${engine}`, () => {
    test('the cut answer is stored incomplete, the question whole; the session goes on', async () => {
      const database = await createTestDatabase(engine);
      const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-crash-stream-'));
      // PGlite: the embedded default, files in the data dir (not memory://).
      const databaseUrl = engine === 'postgres' ? database.url : undefined;
      const db = engine === 'postgres' ? new pg.Client({ connectionString: database.url }) : undefined;
      let child: ChildProcess | undefined;
      try {
        const first = await serve(databaseUrl, dataDir);
        child = first.child;
        const api = apiClient(first.url, key);
        // ~20 tokens a second: a couple of seconds of streaming to cut into.
        const agent = (await api('POST', '/api/v1/agents', { body: { name: 'slow', llm: { simulated: { tokens_per_s: 20 } } } })).body;

        const controller = new AbortController();
        const res = await fetch(`${first.url}/api/v1/agents/${agent.id}/chat/stream`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: question, user_id: 'kim' }),
          signal: controller.signal,
        });
        assert.equal(res.status, 200);
        const frames: SseFrame[] = [];
        let killed: Promise<unknown> | undefined;
        const reading = readSse(res, (f) => {
          frames.push(f);
          // 1.5 s of streaming: past the first checkpoint of the partial answer (every 1 s).
          if (!killed && frames.filter((x) => x.data.chunk_type === 'content').length === 30) {
            killed = new Promise((r) => child!.once('exit', r));
            child!.kill('SIGKILL');
          }
        }).then(
          () => 'ended',
          () => 'broken',
        );
        await reading; // the stream just stops (ended or broken: no terminal event either way)
        assert.ok(killed, 'killed mid-stream');
        await killed;
        const events = frames.map((f) => f.data);
        assert.equal(events[0].chunk_type, 'start');
        assert.ok(!events.some((e) => e.chunk_type === 'done' || e.chunk_type === 'error'), 'the answer was cut, not finished');
        const received = events
          .filter((e) => e.chunk_type === 'content')
          .map((e) => e.content)
          .join('');
        const { session_id, message_id, user_message_id } = events[0];

        if (db) {
          await db.connect();
          const rows = (await db.query('select id, role, status, content from messages where session_id = $1 order by seq', [session_id])).rows;
          assert.deepEqual(
            rows.map((m) => [m.role, m.status]),
            [
              ['user', 'complete'],
              ['assistant', 'streaming'],
            ],
            'the crash left the answer streaming',
          );
        }

        // PostgreSQL may be shared by live instances: only an answer whose owner's heartbeat is
        // older than the lease is closed (test/rolling-restart.test.ts). PGlite has one process.
        if (engine === 'postgres') await new Promise((r) => setTimeout(r, LEASE_MS + 100));
        const second = await serve(databaseUrl, dataDir);
        child = second.child;
        const api2 = apiClient(second.url, key);
        const stored = (await api2('GET', `/api/v1/sessions/${session_id}/messages`)).body.data;
        assert.deepEqual(
          stored.map((m: StoredMessage) => [m.role, m.status]),
          [
            ['user', 'complete'],
            ['assistant', 'incomplete'],
          ],
        );
        assert.equal(stored[0].id, user_message_id);
        assert.equal(stored[0].content, question, 'the user message is whole');
        assert.equal(stored[1].id, message_id);
        assert.ok(received.startsWith(stored[1].content), `stored "${stored[1].content}" is what was streamed so far, or less ("${received}")`);
        assert.ok(stored[1].content.length > 0, 'what was said before the crash is kept (checkpointed while streaming)');
        assert.equal(stored[1].error?.code, 'interrupted');
        if (db) {
          assert.equal((await db.query(`select count(*)::int as n from messages where status = 'streaming'`)).rows[0].n, 0, 'nothing left streaming');
          assert.equal((await db.query(`select count(*)::int as n from jobs`)).rows[0].n, 0, 'no extraction for a cut answer');
        }

        // The session goes on after the crash.
        const next = await api2('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'Go on.', session_id } });
        assert.equal(next.status, 200, JSON.stringify(next.body));
        const after = (await api2('GET', `/api/v1/sessions/${session_id}/messages`)).body.data;
        assert.deepEqual(
          after.map((m: StoredMessage) => [m.role, m.status]),
          [
            ['user', 'complete'],
            ['assistant', 'incomplete'],
            ['user', 'complete'],
            ['assistant', 'complete'],
          ],
        );
        assert.ok(!after.some((m: StoredMessage) => m.status === 'streaming'));
      } finally {
        child?.kill('SIGKILL');
        await db?.end().catch(() => {});
        await database.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}

/** The real server in a child process, on this test's database and data dir. */
const serve = (databaseUrl: string | undefined, dataDir: string) =>
  spawnServe({ DATABASE_URL: databaseUrl, AGENTMEM_DATA_DIR: dataDir, AGENTMEM_BOOTSTRAP_KEY: key, AGENTMEM_STREAM_LEASE_MS: String(LEASE_MS) });
