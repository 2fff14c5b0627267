// Resumable SSE: a client that reconnects with Last-Event-ID gets exactly the frames it
// missed, in order, then the live rest; on one instance (both engines) and across two
// instances sharing PostgreSQL and Redis.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createOrg, createTestDatabase, engines, needsRedis, readSse, startServer, testRedis, type SseFrame, type TestServer } from './harness.ts';

const HOLD_MS = 2_000;
const words = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen';

type Srv = { url: string; adminKey: string };

const slowAgent = async (s: TestServer, tokensPerS = 40) =>
  (await s.api('POST', '/api/v1/agents', { body: { name: 'slow', llm: { provider: 'simulated', simulated: { tokens_per_s: tokensPerS } } } })).body;

function post(s: Srv, agentId: string, body: object, signal?: AbortSignal) {
  return fetch(`${s.url}/api/v1/agents/${agentId}/chat/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

function resume(s: Srv, agentId: string, messageId: string, lastEventId?: string, key = s.adminKey, query = '') {
  return fetch(`${s.url}/api/v1/agents/${agentId}/chat/stream/${messageId}${query}`, {
    headers: { authorization: `Bearer ${key}`, ...(lastEventId !== undefined ? { 'last-event-id': lastEventId } : {}) },
  });
}

/** Reads frames until `stopAfter` content frames, then leaves (the connection is aborted). */
async function readThenLeave(s: Srv, agentId: string, body: object, stopAfter: number): Promise<SseFrame[]> {
  const controller = new AbortController();
  const res = await post(s, agentId, body, controller.signal);
  assert.equal(res.status, 200);
  const seen: SseFrame[] = [];
  await readSse(res, (f) => {
    seen.push(f);
    if (seen.filter((x) => x.data.chunk_type === 'content').length === stopAfter) controller.abort();
  }).catch((err) => assert.equal(err.name, 'AbortError'));
  return seen;
}

/** Streams to the end; when `at` content frames have arrived, calls onMid once with the frames so far. */
async function streamWithMid(s: Srv, agentId: string, body: object, at: number, onMid: (seen: SseFrame[]) => Promise<SseFrame[]>) {
  const res = await post(s, agentId, body);
  const all: SseFrame[] = [];
  let mid: Promise<SseFrame[]> | undefined;
  let seenAtMid: SseFrame[] = [];
  await readSse(res, (f) => {
    all.push(f);
    if (!mid && all.filter((x) => x.data.chunk_type === 'content').length === at) {
      seenAtMid = [...all];
      mid = onMid(seenAtMid);
    }
  });
  assert.ok(mid, 'the stream had enough content frames');
  return { all, seenAtMid, resumed: await mid };
}

const ids = (frames: SseFrame[]) => frames.map((f) => Number(f.id));
const consecutive = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const contentOf = (frames: SseFrame[]) =>
  frames
    .filter((f) => f.data.chunk_type === 'content')
    .map((f) => f.data.content)
    .join('');

for (const engine of engines) {
  describe(`resumable streams on ${engine}`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(engine, { streamHoldMs: HOLD_MS });
    });
    after(async () => {
      await s?.close();
    });
    const messagesOf = async (sessionId: string) => (await s.api('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data;

    test('a reconnect mid-stream gets exactly the frames after Last-Event-ID, then the live rest', async () => {
      const agent = await slowAgent(s);
      const { all, seenAtMid, resumed } = await streamWithMid(s, agent.id, { message: words }, 3, async (seen) => {
        const r = await resume(s, agent.id, seen[0]!.data.message_id, seen.at(-1)!.id);
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type')!, /^text\/event-stream/);
        return readSse(r);
      });
      assert.equal(all.at(-1)!.data.chunk_type, 'done');
      const last = Number(seenAtMid.at(-1)!.id);
      assert.ok(last < all.length - 2, 'the reconnect happened mid-stream');
      assert.deepEqual(ids(resumed), consecutive(last + 1, all.length - last), 'no gaps, no duplicates, in order');
      assert.deepEqual(resumed, all.slice(last), 'the very same frames');
      assert.equal(resumed.at(-1)!.data.chunk_type, 'done');
    });

    test('resumable: true — the turn outlives its client; the reconnect gets the rest and done', async () => {
      const agent = await slowAgent(s);
      const seen = await readThenLeave(s, agent.id, { message: words, resumable: true }, 3);
      const last = Number(seen.at(-1)!.id);
      const { message_id, session_id } = seen[0]!.data;
      await new Promise((r) => setTimeout(r, 100)); // the server has noticed the client left
      const rest = await readSse(await resume(s, agent.id, message_id, String(last)));
      assert.deepEqual(ids(rest), consecutive(last + 1, rest.length));
      assert.equal(rest.at(-1)!.data.chunk_type, 'done', JSON.stringify(rest.at(-1)));
      const stored = await messagesOf(session_id);
      assert.equal(stored[1].status, 'complete');
      assert.equal(contentOf(seen) + contentOf(rest), stored[1].content, 'what was seen + what was resumed = the answer');
    });

    test('by default a client that leaves still cancels the turn; a reconnect gets the held frames and client_aborted', async () => {
      const agent = await slowAgent(s, 20);
      const seen = await readThenLeave(s, agent.id, { message: words }, 2);
      const last = Number(seen.at(-1)!.id);
      const { message_id, session_id } = seen[0]!.data;
      const rest = await readSse(await resume(s, agent.id, message_id, String(last)));
      assert.deepEqual(ids(rest), consecutive(last + 1, rest.length));
      const end = rest.at(-1)!.data;
      assert.deepEqual([end.chunk_type, end.code, end.retryable, end.message_id], ['error', 'client_aborted', true, message_id]);
      const stored = await messagesOf(session_id);
      assert.equal(stored[1].status, 'incomplete');
      assert.equal(contentOf(seen) + contentOf(rest), stored[1].content);
    });

    test('after the end, within the hold window: replay from any point; then it expires', async () => {
      const agent = await slowAgent(s, 0);
      const res = await post(s, agent.id, { message: 'replay me' });
      const all = await readSse(res);
      const messageId = all[0]!.data.message_id;
      assert.deepEqual(await readSse(await resume(s, agent.id, messageId)), all, 'no Last-Event-ID: from the start');
      assert.deepEqual(await readSse(await resume(s, agent.id, messageId, '0')), all);
      assert.deepEqual(await readSse(await resume(s, agent.id, messageId, '2')), all.slice(2));
      assert.deepEqual(await readSse(await resume(s, agent.id, messageId, undefined, s.adminKey, '?last_event_id=3')), all.slice(3));
      const none = await resume(s, agent.id, messageId, String(all.length));
      assert.equal(none.status, 200);
      assert.deepEqual(await readSse(none), []);
      await new Promise((r) => setTimeout(r, HOLD_MS + 100));
      const expired = await resume(s, agent.id, messageId, '0');
      assert.equal(expired.status, 404);
      assert.equal((await expired.json()).error.code, 'not_found');
    });

    test("another org's key, another agent's path, unknown and malformed ids are 404; a bad Last-Event-ID is 400", async () => {
      const agent = await slowAgent(s, 0);
      const all = await readSse(await post(s, agent.id, { message: 'private' }));
      const messageId = all[0]!.data.message_id;
      const other = await createOrg(s.api, `resume-other-${engine}`);
      const otherAgent = (await s.api('POST', '/api/v1/agents', { key: other.key, body: { name: 'x' } })).body;
      const cases: Array<[string, Response]> = [
        ['other org', await resume(s, agent.id, messageId, '0', other.key)],
        ["other org, its own agent's path", await resume(s, otherAgent.id, messageId, '0', other.key)],
        ['same org, another agent', await resume(s, (await slowAgent(s)).id, messageId, '0')],
        ['unknown id', await resume(s, agent.id, '00000000-0000-4000-8000-000000000000', '0')],
        ['malformed id', await resume(s, agent.id, 'nope', '0')],
      ];
      for (const [name, res] of cases) {
        assert.equal(res.status, 404, name);
        const body = await res.json();
        assert.equal(body.error.code, 'not_found', name);
        assert.ok(!JSON.stringify(body).includes('private'), name);
      }
      const bad = await resume(s, agent.id, messageId, 'abc');
      assert.deepEqual([bad.status, (await bad.json()).error.code], [400, 'bad_request']);
      assert.equal((await resume(s, agent.id, messageId, '0', 'am_wrong')).status, 401);
    });
  });
}

describe('resumable streams across two instances (PostgreSQL + Redis)', { skip: (!engines.includes('postgres') && 'needs PostgreSQL') || needsRedis }, () => {
  let a: TestServer;
  let b: TestServer;
  let drop: () => Promise<void>;
  const prefix = `agentmem-test:${process.pid}-${randomBytes(4).toString('hex')}:`;
  const redisUrl = testRedis!;
  before(async () => {
    const db = await createTestDatabase('postgres');
    drop = db.drop;
    const shared = { databaseUrl: db.url, redisUrl, redisKeyPrefix: prefix, secretKey: 'resume-test-secret' };
    a = await startServer('postgres', shared);
    b = await startServer('postgres', shared);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
    const redis = new Redis(redisUrl);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  // B knows A's key through the shared database.
  const onB = (): Srv => ({ url: b.url, adminKey: a.adminKey });

  test('a stream running on A is resumed on B: the missing frames, then the live rest from Redis', async () => {
    const agent = await slowAgent(a);
    const { all, seenAtMid, resumed } = await streamWithMid(a, agent.id, { message: words }, 3, async (seen) => {
      const r = await resume(onB(), agent.id, seen[0]!.data.message_id, seen.at(-1)!.id);
      assert.equal(r.status, 200, await r.clone().text());
      return readSse(r);
    });
    const last = Number(seenAtMid.at(-1)!.id);
    assert.ok(last < all.length - 2, 'the reconnect happened mid-stream');
    assert.deepEqual(resumed, all.slice(last), 'exactly the missing frames, in order, then done');
    assert.equal(resumed.at(-1)!.data.chunk_type, 'done');
  });

  test('a resumable stream whose client left A finishes, and B replays it after the end; other orgs get 404 on B', async () => {
    const agent = await slowAgent(a);
    const seen = await readThenLeave(a, agent.id, { message: words, resumable: true }, 2);
    const messageId = seen[0]!.data.message_id;
    const rest = await readSse(await resume(onB(), agent.id, messageId, seen.at(-1)!.id));
    assert.deepEqual(ids(rest), consecutive(Number(seen.at(-1)!.id) + 1, rest.length));
    assert.equal(rest.at(-1)!.data.chunk_type, 'done');
    const replay = await readSse(await resume(onB(), agent.id, messageId, '0'));
    assert.deepEqual(replay, [...seen, ...rest], 'the whole stream, from Redis');
    const other = await createOrg(a.api, 'resume-redis-other');
    const denied = await resume(onB(), agent.id, messageId, '0', other.key);
    assert.equal(denied.status, 404);
    assert.equal((await resume(onB(), agent.id, '00000000-0000-4000-8000-000000000000', '0')).status, 404);
  });
});
