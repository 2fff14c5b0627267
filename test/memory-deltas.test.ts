// Writes on one instance reach the other's memory index as deltas, with none lost: the race
// of issue #26 (a write announced while the other instance is reading that scope was
// dropped there: 19 of 40 deleted memories still served by B). For 200 users at once, B
// reads each user's scope (its first search) while A adds, updates, deletes or forgets;
// then B must serve exactly what the store holds, for every user.
//
// B runs with AGENTMEM_SCOPE_CHECK=bus-down: its searches do not compare versions while the
// bus is up, so only the deltas keep it current (the default on PostgreSQL, 'always', would
// hide a lost delta behind a reload). A second pass stops B hearing the bus (its Redis
// prefix changed is not possible at run time, so Redis itself is stopped) and checks that a
// delete made meanwhile is not served: the version check while the bus is deaf.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  apiClient,
  letterWord as word,
  createTestDatabase,
  engines,
  needsRedisServer,
  startRedis,
  startServer,
  waitFor,
  type Api,
  type TestServer,
} from './harness.ts';

const USERS = 200;
const OPS = ['add', 'update', 'delete', 'forget'] as const;

describe(
  'memory deltas between two instances (PostgreSQL + Redis)',
  { skip: (!engines.includes('postgres') && 'needs PostgreSQL') || needsRedisServer },
  () => {
    let a: TestServer;
    let b: TestServer;
    let apiA: Api;
    let apiB: Api;
    let redis: Awaited<ReturnType<typeof startRedis>>;
    let drop = async () => {};
    let agentId: string;

    before(async () => {
      redis = await startRedis();
      const database = await createTestDatabase('postgres');
      drop = database.drop;
      const shared = { databaseUrl: database.url, redisUrl: redis.url, redisKeyPrefix: 'deltas:', secretKey: 'memory-deltas-secret' };
      a = await startServer('postgres', shared);
      b = await startServer('postgres', { ...shared, scopeCheck: 'bus-down' });
      apiA = a.api;
      apiB = apiClient(b.url, a.adminKey);
      agentId = (await apiA('POST', '/api/v1/agents', { body: { name: 'deltas' } })).body.id;
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await redis?.stop();
      await drop();
    });

    const search = async (api: Api, user: string, query: string) => {
      const res = await api('POST', '/api/v1/memories/search', { body: { query, agent_id: agentId, user_id: user, top_k: 20, min_score: 0 } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return (res.body.results as Array<{ id: string; content: string }>).map((r) => r.content);
    };

    test(`${USERS} users: B reads each scope while A adds, updates, deletes or forgets; B then serves what the store holds`, async () => {
      const users = Array.from({ length: USERS }, (_, i) => ({ id: `racer-${i}`, op: OPS[i % OPS.length]!, tag: word('zq', i) }));
      // Five memories each, written through A in one batch (B has read none of these scopes yet).
      const seeded = new Map<string, string[]>();
      const batch = users.flatMap((u) => [0, 1, 2, 3, 4].map((k) => ({ content: `${u.tag} fact ${word('k', k)} original`, agent_id: agentId, user_id: u.id })));
      const added = await apiA('POST', '/api/v1/memories/batch', { body: { memories: batch } });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      users.forEach((u, i) => seeded.set(u.id, added.body.ids.slice(i * 5, i * 5 + 5)));

      // The race: B's first search of the scope (a read of the store) and A's write, sent together.
      // (50 users at a time: the suite shares its cores, and a 503 from a starved pool is not the point)
      const race = async (u: (typeof users)[number]) => {
        const [first] = seeded.get(u.id)!;
        const write = async () => {
          if (u.op === 'add') return apiA('POST', '/api/v1/memories', { body: { content: `${u.tag} fact added`, agent_id: agentId, user_id: u.id } });
          if (u.op === 'update') return apiA('PATCH', `/api/v1/memories/${first}`, { body: { content: `${u.tag} fact rewritten` } });
          if (u.op === 'delete') return apiA('DELETE', `/api/v1/memories/${first}`);
          return apiA('DELETE', `/api/v1/users/${u.id}`);
        };
        const [, written] = await Promise.all([search(apiB, u.id, u.tag), write()]);
        assert.ok(written.status < 300, `${u.op}: ${written.status}`);
      };
      for (let i = 0; i < USERS; i += 50) await Promise.all(users.slice(i, i + 50).map(race));

      // What each user's memories must be, on both instances.
      const expected = (u: (typeof users)[number]) => {
        const base = [0, 1, 2, 3, 4].map((k) => `${u.tag} fact ${word('k', k)} original`);
        if (u.op === 'add') return [...base, `${u.tag} fact added`].sort();
        if (u.op === 'update') return [`${u.tag} fact rewritten`, ...base.slice(1)].sort();
        if (u.op === 'delete') return base.slice(1).sort();
        return [];
      };
      const misses: string[] = [];
      for (const u of users) {
        const want = JSON.stringify(expected(u));
        assert.equal(JSON.stringify((await search(apiA, u.id, u.tag)).sort()), want, `A, ${u.op} of ${u.id}`);
        // The delta travels through Redis after A answered: B converges, and a lost one never would.
        try {
          await waitFor(`${u.op} of ${u.id} on B`, async () => JSON.stringify((await search(apiB, u.id, u.tag)).sort()) === want, {
            timeoutMs: 5_000,
            intervalMs: 50,
          });
        } catch {
          misses.push(`${u.op} ${u.id}: ${JSON.stringify((await search(apiB, u.id, u.tag)).sort())}`);
        }
      }
      assert.deepEqual(misses, [], `B missed ${misses.length} of ${USERS} writes`);
    });

    test('while B cannot hear the bus, a memory deleted through A is not served by B (its scope version moved)', async () => {
      const user = 'deaf-bus';
      const tag = word('zd', 1);
      const ids: string[] = [];
      for (const k of [0, 1, 2])
        ids.push((await apiA('POST', '/api/v1/memories', { body: { content: `${tag} secret ${word('k', k)}`, agent_id: agentId, user_id: user } })).body.id);
      await waitFor('B serves the three', async () => (await search(apiB, user, tag)).length === 3, { intervalMs: 50 });

      await redis.stop();
      const trusted = async () => {
        const text = await (await fetch(`${b.url}/metrics`, { headers: { authorization: `Bearer ${a.adminKey}` } })).text();
        return /^agentmem_invalidation_bus_trusted 1$/m.test(text);
      };
      await waitFor('B stops trusting the bus', async () => !(await trusted()), { intervalMs: 50 });
      // /ready stays 200 on both: Redis is reported, not required.
      for (const s of [a, b]) {
        const ready = await fetch(`${s.url}/ready`);
        const body = await ready.json();
        assert.equal(ready.status, 200, JSON.stringify(body));
        assert.equal(body.checks.redis.ok, false);
      }

      assert.equal((await apiA('DELETE', `/api/v1/memories/${ids[0]}`)).status, 204);
      const forgotten = await apiA('DELETE', `/api/v1/users/${user}`);
      assert.equal(forgotten.status, 200);
      assert.equal(forgotten.body.deleted.memories, 2);
      assert.equal(forgotten.body.deleted.user, 0, 'no users row: known only by its memories');
      assert.deepEqual(await search(apiB, user, tag), [], 'B serves nothing of a forgotten user while the bus is down');

      redis = await startRedis(redis.port);
      await waitFor('B trusts the bus again', trusted, { intervalMs: 50 });
      assert.deepEqual(await search(apiB, user, tag), []);
    });
  },
);
