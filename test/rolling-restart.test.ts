// A rolling restart on PostgreSQL: instance A (the real CLI, a child process) streams an
// answer while instance B starts and runs its sweeps. A's answer is never seen
// incomplete, and its checkpoints keep growing; then A is killed with SIGKILL mid-answer
// and, once its heartbeat is older than the lease, B marks that answer incomplete.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { apiClient, createTestDatabase, engines, readSse, spawnServe, startServer, type SseFrame, type TestServer } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

const redisUrl = process.env.AGENTMEM_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const key = 'am_rolling_key_0123456789abcdef0123';
const LEASE_MS = 1_500;
const words = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');

describe('rolling restart on PostgreSQL', { skip: !engines.includes('postgres') && 'needs PostgreSQL' }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let emu: Emulator;
  let a: ChildProcess | undefined;
  let urlA: string;
  let b: TestServer | undefined;
  let db: pg.Client;
  let agentId: string;
  const prefix = `agentmem-test-rolling-${randomBytes(4).toString('hex')}:`;

  before(async () => {
    database = await createTestDatabase('postgres');
    emu = await startEmulator({ port: 0 });
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      AGENTMEM_REDIS_PREFIX: prefix,
      AGENTMEM_BOOTSTRAP_KEY: key,
      AGENTMEM_STREAM_LEASE_MS: String(LEASE_MS),
    };
    ({ child: a, url: urlA } = await spawnServe(env));
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    const base = `${emu.url}${optionPath({ tokens_per_s: 25, text: words })}/v1`;
    agentId = (
      await apiClient(urlA, key)('POST', '/api/v1/agents', {
        body: { name: 'rolling', llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: base, api_key: 'sk' } },
      })
    ).body.id;
  });
  after(async () => {
    a?.kill('SIGKILL');
    await b?.close();
    await emu?.close();
    await db?.end();
    await database?.drop();
  });

  const rowOf = async (id: string) => (await db.query('select status, content, owner, heartbeat_at, error from messages where id = $1', [id])).rows[0];

  function chatOnA(onFrame: (f: SseFrame, frames: SseFrame[]) => void) {
    const frames: SseFrame[] = [];
    const done = fetch(`${urlA}/api/v1/agents/${agentId}/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'tell me', user_id: 'rolling' }),
    }).then((res) =>
      readSse(res, (f) => {
        frames.push(f);
        onFrame(f, frames);
      }).then(
        () => 'ended',
        () => 'broken',
      ),
    );
    return { frames, done };
  }

  test('starting B while A streams: the answer is never incomplete, A checkpoints on', async () => {
    let messageId: string | undefined;
    let firstContent!: () => void;
    const started = new Promise<void>((resolve) => (firstContent = resolve));
    const { frames, done } = chatOnA((f) => {
      if (f.data.chunk_type === 'start') messageId = f.data.message_id;
      if (f.data.chunk_type === 'content') firstContent();
    });
    await started;
    // B starts while A streams (its startup sweep runs now), and sweeps every lease / 3.
    b = await startServer('postgres', { databaseUrl: database.url, redisUrl, redisKeyPrefix: prefix, bootstrapKey: key, streamLeaseMs: LEASE_MS });
    const apiB = apiClient(b.url, key);
    const lengths: number[] = [];
    let finished = false;
    void done.then(() => (finished = true));
    // Longer than two leases, while A streams: every read, on B and in the table, sees it streaming.
    const until = Date.now() + 2 * LEASE_MS + 1_000;
    while (Date.now() < until && !finished) {
      const row = await rowOf(messageId!);
      if (row.status !== 'streaming') break;
      lengths.push(row.content.length);
      const viaB = (await apiB('GET', `/api/v1/sessions/${frames[0]!.data.session_id}/messages`)).body.data;
      assert.notEqual(viaB.at(-1).status, 'incomplete', "B shows A's live answer as incomplete");
      assert.equal(viaB.at(-1).owner, undefined, 'the owner is not part of the API');
      await sleep(100);
    }
    const row = await rowOf(messageId!);
    assert.ok(finished || row.status === 'streaming', `A's live answer is ${row.status} (${JSON.stringify(row.error)})`);
    assert.ok(lengths.length > 10, `watched it stream (${lengths.length} reads)`);
    assert.ok(lengths.at(-1)! > lengths[0]!, `A's checkpoints went on after B started: ${lengths[0]} → ${lengths.at(-1)} chars`);
    assert.equal(await done, 'ended');
    const events = frames.map((f) => f.data);
    assert.equal(events.at(-1).chunk_type, 'done');
    const final = await rowOf(messageId!);
    assert.equal(final.status, 'complete');
    assert.equal(final.content, words);
  });

  test('kill -9 A mid-answer: after the lease, B marks it incomplete', async () => {
    let messageId: string | undefined;
    let killedAt = 0;
    const stream = chatOnA((f, frames) => {
      if (f.data.chunk_type === 'start') messageId = f.data.message_id;
      // past the first checkpoint (every 1 s at 25 tokens/s)
      if (!killedAt && frames.filter((x) => x.data.chunk_type === 'content').length === 40) {
        killedAt = Date.now();
        a!.kill('SIGKILL');
      }
    });
    assert.equal(await stream.done, 'broken');
    a = undefined;
    const received = stream.frames
      .filter((f) => f.data.chunk_type === 'content')
      .map((f) => f.data.content)
      .join('');
    const first = await rowOf(messageId!);
    const sinceKill = Date.now() - killedAt;
    // The lease runs from A's last renewal, which can be a beat (lease / 3) before the kill.
    const earliest = LEASE_MS - LEASE_MS / 3;
    if (sinceKill < earliest - 200) assert.equal(first.status, 'streaming', 'not closed before its lease ran out');
    let row = first;
    while (row.status === 'streaming' && Date.now() - killedAt < LEASE_MS * 4 + 5_000) {
      await sleep(100);
      row = await rowOf(messageId!);
    }
    const closedAfter = Date.now() - killedAt;
    assert.equal(row.status, 'incomplete');
    assert.equal(row.error.code, 'interrupted');
    assert.ok(
      closedAfter >= earliest - 100,
      `closed ${closedAfter} ms after the kill, before the lease (${LEASE_MS} ms from A's last renewal, a beat of ${LEASE_MS / 3} ms at most before the kill)`,
    );
    assert.ok(row.content.length > 0 && received.startsWith(row.content), 'what was checkpointed is kept, a prefix of what the client got');
    console.log(`# killed A's answer marked incomplete by B ${closedAfter} ms after the kill (lease ${LEASE_MS} ms)`);
  });
});
