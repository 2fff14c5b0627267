// Turns of one session alternating over two instances (PostgreSQL + Redis): each instance
// patches its copy of the session's window with the other's writes as they are announced
// (memory/session-deltas.ts). With the default check on PostgreSQL (AGENTMEM_SCOPE_CHECK=always)
// each turn served from a copy also compares it with the store, so every prompt carries exactly
// the stored history — checked against the rows in the database, through the emulator's
// recorded requests — and a delete or a forgotten user on one instance is never served by the
// other, however late the bus. With the bus alone (bus-down), a copy is patched from deltas, and
// a gap in them makes the holder read the store again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { Redis } from 'ioredis';
import type { AppConfig } from '../src/config.ts';
import type { Emulator } from '../src/emulator/server.ts';
import { chatAndSent, emulatorAgent, engines, needsRedis, testRedis, twoInstances, type Api, type TestServer } from './harness.ts';

const redisUrl = testRedis!;

for (const scopeCheck of ['always', 'bus-down'] as const)
  describe(
    `session windows across instances, AGENTMEM_SCOPE_CHECK=${scopeCheck}`,
    { skip: (!engines.includes('postgres') && 'needs PostgreSQL') || needsRedis },
    () => {
      let a: TestServer;
      let emu: Emulator;
      let db: pg.Client;
      let apiB: Api;
      let shared: Partial<AppConfig> & { databaseUrl: string };
      let redis: Redis;
      twoInstances((w) => ({ a, emu, db, apiB, shared } = w), { redisUrl: () => redisUrl, secretKey: 'session-deltas-test-secret', config: { scopeCheck } });
      before(() => {
        redis = new Redis(redisUrl);
      });
      after(() => redis?.quit());

      /** An agent on the emulator with nothing in its prompt but the system prompt, the window and the message. */
      const agentWith = (llm: object = {}, memory: object = {}) =>
        emulatorAgent(a, emu, { text: 'ok' }, { name: 'alternating', system_prompt: 'sys', memory: { extract: false, ...memory } }).then(async (agent) => {
          // (emulatorAgent sets llm; the patch adds the limits without losing its base_url)
          if (Object.keys(llm).length) {
            const r = await a.api('PATCH', `/api/v1/agents/${agent.id}`, { body: { llm: { ...agent.llm, ...llm } } });
            assert.equal(r.status, 200, JSON.stringify(r.body));
          }
          return agent;
        });

      /** What the window must send before this turn: the session's finished rows from its window start on, as stored. */
      async function storedWindow(sessionId: string, before: string[]): Promise<string[]> {
        const { rows: s } = await db.query('select window_seq from sessions where id = $1', [sessionId]);
        const { rows } = await db.query(
          `select content, id from messages where session_id = $1 and status <> 'streaming' and seq >= coalesce($2::bigint, 0) order by seq`,
          [sessionId, s[0]?.window_seq ?? null],
        );
        return rows.filter((r) => !before.includes(r.id)).map((r) => r.content);
      }

      /** The ids of the turn's own two rows (its user message and answer), newest turn of the session. */
      const lastTurnIds = async (sessionId: string) =>
        (await db.query('select id from messages where session_id = $1 order by seq desc limit 2', [sessionId])).rows.map((r) => r.id as string);

      async function alternate(agentId: string, turns: number, words: number): Promise<{ sessionId: string; moved: number }> {
        let sessionId: string | undefined;
        let moved = 0;
        for (let i = 0; i < turns; i++) {
          const api = i % 2 === 0 ? a.api : apiB;
          const message = `turn ${i} ${'word '.repeat(words)}`.trim();
          const r = await chatAndSent(emu, api, agentId, message, sessionId);
          sessionId = r.sessionId;
          const expected = [...(await storedWindow(sessionId, await lastTurnIds(sessionId))), message];
          assert.deepEqual(r.sent.slice(1), expected, `turn ${i} on ${i % 2 === 0 ? 'A' : 'B'} sends exactly the stored window`);
          const { rows } = await db.query('select window_seq from sessions where id = $1', [sessionId]);
          if (rows[0].window_seq) moved++;
        }
        return { sessionId: sessionId!, moved };
      }

      /** Turns on A then on B with time for the bus between them (the bus alone is not awaited by a client). */
      const heard = () => new Promise((r) => setTimeout(r, 100));

      if (scopeCheck === 'always') {
        test('turns alternating over A and B: each prompt holds exactly the stored history', async () => {
          const agent = await agentWith();
          const { sessionId } = await alternate(agent.id, 12, 3);
          // A row written behind the bus's back is in B's next prompt all the same: B's copy is compared with the store.
          await db.query(
            `insert into messages (id, org_id, session_id, role, content, status) select gen_random_uuid(), org_id, id, 'user', 'sneaked in', 'complete' from sessions where id = $1`,
            [sessionId],
          );
          const sent = (await chatAndSent(emu, apiB, agent.id, 'after the sneak', sessionId)).sent;
          assert.ok(sent.includes('turn 10 word word word') && sent.includes('sneaked in'), "B's window is the store's");
        });
      } else {
        test("B patches its copy with A's turns: a row written behind the bus's back is not in B's next prompt, until a write does not continue the copy", async () => {
          const agent = await agentWith();
          const turn = async (api: Api, message: string, sessionId?: string) => {
            const r = await chatAndSent(emu, api, agent.id, message, sessionId);
            await heard();
            return r;
          };
          const { sessionId } = await turn(a.api, 'first on A');
          await turn(apiB, 'then on B', sessionId); // B reads the session and keeps it
          await turn(a.api, 'A again', sessionId); // heard by B as deltas
          await db.query(
            `insert into messages (id, org_id, session_id, role, content, status) select gen_random_uuid(), org_id, id, 'user', 'sneaked in', 'complete' from sessions where id = $1`,
            [sessionId],
          );
          const sent = (await chatAndSent(emu, apiB, agent.id, 'after the sneak', sessionId)).sent;
          assert.ok(sent.includes('A again'), "B's window has A's last turn");
          assert.ok(!sent.includes('sneaked in'), 'B answered from its copy (patched, not read again)');
          // B's own write saw the sneaked row before its user message: its copy no longer continues, so it is read again.
          const next = (await chatAndSent(emu, apiB, agent.id, 'and again', sessionId)).sent;
          assert.ok(next.includes('sneaked in'), 'a write that does not continue the copy drops it');
        });
      }

      if (scopeCheck === 'always')
        test('the window giving way in chunks (window_seq) moves on both instances alike', async () => {
          const agent = await agentWith({ max_context_tokens: 400, max_tokens: 40 }, { last_messages: 200 });
          const { moved } = await alternate(agent.id, 16, 25);
          assert.ok(moved > 0, 'the window gave way at least once');
        });

      if (scopeCheck === 'bus-down')
        test('a gap in the deltas (heard out of order, or missed) makes B read the store', async () => {
          const agent = await agentWith();
          const first = await chatAndSent(emu, a.api, agent.id, 'turn 0 word', undefined);
          await heard();
          await chatAndSent(emu, apiB, agent.id, 'turn 1 word', first.sessionId); // B keeps the session
          const { sessionId } = first;
          const channel = `${shared.redisKeyPrefix}invalidate`;
          const { rows } = await db.query('select * from messages where session_id = $1 order by seq desc limit 1', [sessionId]);
          const newest = rows[0];
          const row = (content: string, seq: number) => ({ ...newest, id: crypto.randomUUID(), seq, role: 'assistant', content, created_at: new Date() });
          const delta = (after: number, m: object) =>
            JSON.stringify({ o: 'test', k: 'session', i: sessionId, d: { t: 'append', org: newest.org_id, agent: agent.id, user: null, after, m: [m] } });
          // A delta that continues B's copy is appended (here: a made-up answer, to see it applied; a copy ending with a
          // question reads the store, its answer being on the way).
          await redis.publish(channel, delta(Number(newest.seq), row('announced only', Number(newest.seq) + 1000)));
          await heard();
          assert.ok((await chatAndSent(emu, apiB, agent.id, 'one', sessionId)).sent.includes('announced only'), 'B applied the delta');
          // One that does not (its `after` is not B's newest): B drops its copy and reads the store.
          await redis.publish(channel, delta(1, row('out of order', Number(newest.seq) + 2000)));
          await heard();
          const sent = (await chatAndSent(emu, apiB, agent.id, 'two', sessionId)).sent;
          assert.ok(!sent.includes('out of order') && !sent.includes('announced only'), 'B read the store again');
          assert.deepEqual(sent.slice(1, -1), await storedWindow(sessionId, await lastTurnIds(sessionId)));
        });

      if (scopeCheck === 'always')
        test('a session deleted, or its user forgotten, through A is never served by B, however late the bus', async () => {
          const agent = await agentWith();
          const { sessionId } = await alternate(agent.id, 4, 1);
          assert.ok((await chatAndSent(emu, apiB, agent.id, 'held', sessionId)).sent.includes('turn 2 word'), 'B holds the session');
          assert.equal((await a.api('DELETE', `/api/v1/sessions/${sessionId}`)).status, 204);
          const before = emu.requests.length;
          const r = await apiB('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'still there?', session_id: sessionId } });
          assert.equal(r.status, 404, 'B refuses the deleted session');
          assert.equal(emu.requests.length, before, 'nothing of it went upstream');

          // A user forgotten: every session of theirs, held by B, is gone from B too.
          const first = await apiB('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'mine', user_id: 'forget-me' } });
          const held = first.body.session_id as string;
          assert.equal((await apiB('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'again', session_id: held } })).status, 200);
          assert.equal((await a.api('DELETE', `/api/v1/users/forget-me`)).status, 200);
          const gone = await apiB('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'and now?', session_id: held } });
          assert.equal(gone.status, 404, "B refuses the forgotten user's session");
        });
    },
  );
