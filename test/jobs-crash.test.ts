// A server killed with SIGKILL in the middle of a memory extraction: after a restart
// the job is claimed again (its lock expired), finishes, and applies its changes once.
// Runs the real CLI as a child process on PostgreSQL, watching the jobs table directly.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { apiClient, createTestDatabase, engines, spawnServe, waitFor, type MemoryRow } from './harness.ts';

const key = 'am_crash_test_key_0123456789abcdef';

test(
  'an extraction job interrupted by kill -9 finishes after restart, exactly once',
  { skip: !engines.includes('postgres') && 'needs PostgreSQL' },
  async () => {
    const database = await createTestDatabase('postgres');
    const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-crash-'));
    const db = new pg.Client({ connectionString: database.url });
    let child: ChildProcess | undefined;
    try {
      const first = await serve(database.url, dataDir);
      child = first.child;
      const api = apiClient(first.url, key);
      // Slow model: the chat and the extraction each take ~1.5 s, leaving time to kill mid-extraction.
      const agent = (await api('POST', '/api/v1/agents', { body: { name: 'slow', llm: { simulated: { first_token_ms: 1500 } } } })).body;
      const chat = await api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'I live in Lisbon.', user_id: 'kim' } });
      assert.equal(chat.status, 200, JSON.stringify(chat.body));

      await db.connect();
      const job = async () => (await db.query(`select id, status, attempts from jobs where kind = 'memory.extract'`)).rows[0];
      await waitFor('the extraction job running', async () => (await job())?.status === 'running', { timeoutMs: 5_000, intervalMs: 25 });
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      const interrupted = await job();
      assert.equal(interrupted.status, 'running', 'the job was mid-way when the server died');
      assert.equal((await db.query('select count(*)::int as n from memories')).rows[0].n, 0);

      const second = await serve(database.url, dataDir);
      child = second.child;
      await waitFor('the job done after the restart', async () => (await job()).status === 'done', { timeoutMs: 20_000 });
      const finished = await job();
      assert.equal(finished.attempts, 2, 'claimed again after the dead worker’s lock expired');
      const memories = (await apiClient(second.url, key)('GET', `/api/v1/memories?agent_id=${agent.id}&user_id=kim`)).body.data;
      assert.deepEqual(
        memories.map((m: MemoryRow) => m.content),
        ['I live in Lisbon'],
      );
      const history = (await db.query('select event from memory_history')).rows;
      assert.deepEqual(
        history.map((h) => h.event),
        ['ADD'],
        'applied once',
      );
    } finally {
      child?.kill('SIGKILL');
      await db.end().catch(() => {});
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

/** The real server in a child process, on this test's database and data dir. */
const serve = (databaseUrl: string, dataDir: string) =>
  spawnServe({ DATABASE_URL: databaseUrl, AGENTMEM_DATA_DIR: dataDir, AGENTMEM_BOOTSTRAP_KEY: key, AGENTMEM_JOB_LOCK_MS: '1000' });
