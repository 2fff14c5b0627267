// A Redis outage between two instances on one PostgreSQL. While the invalidation bus
// is down, the other instance must not serve a stale agent config, a revoked key or a
// session history missing a turn: its caches read the database instead. The outage is
// counted in /metrics; once Redis is back, the caches are cleared and used again.
// (The Redis here is this test's own, stopped and restarted; not the shared one.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import {
  apiClient,
  chatAndSent,
  emulatorAgent,
  freePort,
  engines,
  needsRedisServer,
  startRedis,
  twoInstances,
  type Api,
  type TestServer,
  startServer,
  waitFor,
} from './harness.ts';

const OUTAGE_MS = 10_000;

/** How long `check` took to hold (ms). */
async function timeUntil(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const t0 = performance.now();
  await waitFor(what, check, { timeoutMs, intervalMs: 50 });
  return performance.now() - t0;
}

const metric = async (s: { url: string; adminKey: string }, line: RegExp) => {
  const m = line.exec(await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text());
  return m ? Number(m[1]) : undefined;
};
const trusted = (s: { url: string; adminKey: string }) => metric(s, /^agentmem_invalidation_bus_trusted (\d+)$/m);
const busEvents = (s: { url: string; adminKey: string }, event: string) =>
  metric(s, new RegExp(`^agentmem_invalidation_bus_events_total\\{event="${event}"\\} (\\d+)$`, 'm'));

describe(
  'a Redis outage between two instances (PostgreSQL + Redis)',
  { skip: (!engines.includes('postgres') && 'needs PostgreSQL') || needsRedisServer },
  () => {
    let a: TestServer;
    let b: TestServer;
    let redis: Awaited<ReturnType<typeof startRedis>>;
    let emu: Emulator;
    let db: pg.Client;
    let apiB: Api;
    before(async () => {
      redis = await startRedis();
    });
    twoInstances((w) => ({ a, b, emu, db, apiB } = w), { redisUrl: () => redis.url, secretKey: 'bus-outage-secret' });
    after(async () => {
      await redis?.stop();
    });

    test('while Redis is down B serves no old config, revoked key or stale history; after it returns B caches again', async () => {
      const agent = await emulatorAgent(a, emu, { text: 'ok' }, { name: 'shared', system_prompt: 'v1' });
      const chat = (api: Api, message: string, session_id?: string) => chatAndSent(emu, api, agent.id, message, session_id);
      const key = (await a.api('POST', '/api/v1/api-keys', { body: { name: 'to revoke' } })).body;
      const withKey = apiClient(b.url, key.key);

      // B caches all three (shown by changes made behind the bus's back going unseen).
      const { sessionId } = await chat(apiB, 'one');
      assert.equal((await withKey('GET', '/api/v1/agents')).status, 200);
      await db.query(`update agents set config = jsonb_set(config, '{system_prompt}', '"sql"') where id = $1`, [agent.id]);
      assert.equal((await chat(apiB, 'two', sessionId)).system, 'v1', 'B serves the agent from its cache');
      assert.equal(await trusted(b), 1);

      await redis.stop();
      const down = await timeUntil('B stops trusting its caches', async () => (await trusted(b)) === 0, 5_000);
      const stoppedAt = performance.now();

      // Through A while Redis is down: a new config, a revoked key, a turn in the session.
      assert.equal((await a.api('PATCH', `/api/v1/agents/${agent.id}`, { body: { system_prompt: 'v2' } })).status, 200);
      assert.equal((await a.api('DELETE', `/api/v1/api-keys/${key.id}`)).status, 204);
      await chat(a.api, 'from A', sessionId);

      // B at once, and again near the end of the outage.
      for (const when of ['at once', 'later']) {
        if (when === 'later') await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - 2_000 - (performance.now() - stoppedAt))));
        const turn = await chat(apiB, `during (${when})`, sessionId);
        assert.equal(turn.system, 'v2', `B sends the new system prompt (${when})`);
        assert.ok(turn.sent.includes('from A'), `B's history holds A's turn (${when}): ${JSON.stringify(turn.sent)}`);
        assert.equal((await withKey('GET', '/api/v1/agents')).status, 401, `B refuses the revoked key (${when})`);
      }

      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (performance.now() - stoppedAt))));
      const restarted = await startRedis(redis.port);
      redis = restarted;
      const back = await timeUntil('B trusts its caches again', async () => (await trusted(b)) === 1 && (await trusted(a)) === 1);
      console.log(`# B noticed the outage in ${down.toFixed(0)} ms; trusted again ${back.toFixed(0)} ms after Redis restarted`);
      // A's changes during the outage were not published: once A can publish again it asks every
      // cache cleared (with its next message, a heartbeat at most a second later). B caches again after that.
      await timeUntil("A's clear reached B", async () => ((await busEvents(b, 'cleared')) ?? 0) >= 1);

      // Counted on B: errors, the outage, the reconnect.
      assert.ok((await busEvents(b, 'error'))! >= 1, 'errors counted');
      assert.equal(await busEvents(b, 'down'), 1, 'one outage');
      assert.equal(await busEvents(b, 'up'), 1, 'one reconnect');

      // After the reconnect B caches again (and what it cached is current)...
      assert.equal((await chat(apiB, 'after', sessionId)).system, 'v2');
      await db.query(`update agents set config = jsonb_set(config, '{system_prompt}', '"sql again"') where id = $1`, [agent.id]);
      assert.equal((await chat(apiB, 'cached', sessionId)).system, 'v2', 'B serves the agent from its cache again');
      // ...and hears A's changes through the bus again.
      assert.equal((await a.api('PATCH', `/api/v1/agents/${agent.id}`, { body: { system_prompt: 'v3' } })).status, 200);
      await waitFor('B serves v3', async () => (await chat(apiB, 'v3?', sessionId)).system === 'v3', { timeoutMs: 5_000, intervalMs: 50 });
    });
  },
);

// One instance is enough here, so this runs on the embedded default too.
for (const engine of engines) {
  test(
    `an instance started while its Redis is down serves, caches bypassed, and uses them once Redis answers (${engine})`,
    { skip: needsRedisServer },
    async () => {
      const port = await freePort();
      const emu = await startEmulator({ port: 0, profile: 'instant' });
      const t0 = performance.now();
      const s = await startServer(engine, { redisUrl: `redis://127.0.0.1:${port}`, redisKeyPrefix: `agentmem-test:${randomBytes(4).toString('hex')}:` });
      let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
      try {
        const startMs = performance.now() - t0;
        assert.ok(startMs < 30_000, `started in ${startMs.toFixed(0)} ms`);
        assert.equal(await trusted(s), 0, 'caches bypassed');
        const agent = await emulatorAgent(s, emu, { text: 'ok' }, { name: 'no redis', system_prompt: 'v1' });
        // (chatAndSent throws unless the chat answers 200: chats work without Redis)
        const systemSent = async () => (await chatAndSent(emu, s.api, agent.id, 'hi')).system;
        assert.equal(await systemSent(), 'v1');
        // Behind the bus's back: seen at once, since nothing is cached.
        await s.app.db.query(`update agents set config = jsonb_set(config, '{system_prompt}', '"sql"') where id = $1`, [agent.id]);
        assert.equal(await systemSent(), 'sql', 'the agent is read from the database');

        redis = await startRedis(port);
        await waitFor('trusted once Redis answers', async () => (await trusted(s)) === 1, { timeoutMs: 15_000, intervalMs: 50 });
        assert.equal(await busEvents(s, 'up'), 1, 'its arrival is counted');
        assert.ok((await busEvents(s, 'error'))! >= 1);
        assert.equal(await systemSent(), 'sql', 'loaded once more, now into the cache');
        await s.app.db.query(`update agents set config = jsonb_set(config, '{system_prompt}', '"sql again"') where id = $1`, [agent.id]);
        assert.equal(await systemSent(), 'sql', 'served from the cache: the change behind the bus goes unseen');
      } finally {
        await s.close();
        await redis?.stop();
        await emu.close();
      }
    },
  );
}
