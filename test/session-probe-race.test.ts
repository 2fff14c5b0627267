// A turn served from a kept copy of its session asks the store whether the copy is current
// (session-cache.ts, instances sharing a store). The answer must be about the window the turn
// was given: a delta that reaches the copy while the probe is out (another instance's turn,
// announced late) patches the copy, not the window already handed out — and that window,
// short of the delta's messages, is stale. (CI: a turn on A was sent without B's last turn.)
// Both engines, the server's own store, a second cache beside the server's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSessionCache } from '../src/memory/session-cache.ts';
import { alwaysTrusted } from '../src/store/invalidation.ts';
import { lastMessages } from '../src/store/repos/messages.ts';
import { sessionMarks } from '../src/store/repos/sessions.ts';
import { engines, startServer, type TestServer } from './harness.ts';

for (const engine of engines) {
  describe(`a kept session checked against the store on ${engine}`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(engine);
    });
    after(() => s?.close());

    test('a delta that arrives while the probe is out does not make the window handed out current', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'probe-race', memory: { extract: false } } })).body;
      const first = await s.api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'one', user_id: 'u' } });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const sessionId: string = first.body.session_id;
      const orgId = (await s.app.db.query<{ org_id: string }>('select org_id from agents where id = $1', [agent.id]))[0]!.org_id;

      // this "instance": its own copy of the session, checked by the store's marks
      const cache = createSessionCache(s.app.db, {
        maxSessions: 10,
        guard: alwaysTrusted,
        probe: async (org, id) => {
          const mark = (await sessionMarks(s.app.db, [id])).get(id);
          return mark?.org_id === org ? mark : undefined;
        },
      });
      const held = await cache.window(orgId, sessionId, 11);
      assert.equal(held?.messages.length, 2);
      assert.equal(held?.freshness, undefined, 'read from the store just now');

      // another instance's turn: stored, and its delta (the two new rows) on its way here
      const second = await s.api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'two', session_id: sessionId } });
      assert.equal(second.status, 200, JSON.stringify(second.body));
      const rows = await lastMessages(s.app.db, orgId, sessionId, 2);
      assert.deepEqual(
        rows.map((r) => r.role),
        ['user', 'assistant'],
      );

      // the next turn here: the kept copy is handed out, then the delta arrives before the probe answers
      const given = await cache.window(orgId, sessionId, 11);
      assert.ok(given?.freshness, 'served from the kept copy, checked');
      cache.append(sessionId, held!.messages.at(-1)!.seq, rows);
      assert.equal(given.messages.length, 2, 'the window handed out is as it was');
      assert.equal(await given.freshness, 'stale', 'short of the stored turn: read again');

      // the copy itself took the delta: the next turn gets all four, current
      const next = await cache.window(orgId, sessionId, 11);
      assert.equal(next?.messages.length, 4);
    });
  });
}
