// A client that leaves before the first token cancels the turn, wherever it is: during
// auth, the agent lookup, the history read, recall, or the wait for the model's first token. The model is
// never asked (or its request is closed at once: the figure is reported, the assertion is "long
// before the model would have answered"), the answer is stored incomplete with client_aborted,
// and no turn is left running.
//
// Auth, the agent lookup and history are made slow for real with a lock held by another
// PostgreSQL connection; PGlite has one connection (no second session to hold a lock),
// so those cases run on PostgreSQL only.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import pg from 'pg';
import type { Emulator } from '../src/emulator/server.ts';
import { engines, startServer, type TestServer, serverAndEmulator, waitFor } from './harness.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const until = (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000) => waitFor(what, ok, { timeoutMs, intervalMs: 10 });

for (const engine of engines) {
  describe(`a client that leaves before the first token, on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    const createAgent = async (opts: { firstTokenMs?: number; embedMs?: number; budgetMs?: number } = {}) =>
      (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'leaver',
            llm: { provider: 'openai-compatible', model: 'm', base_url: `${emu.url}/~first_token_ms=${opts.firstTokenMs ?? 0}/v1`, api_key: 'k' },
            memory: {
              extract: false,
              recall_budget_ms: opts.budgetMs ?? 150,
              ...(opts.embedMs
                ? { embedder: { provider: 'openai-compatible', base_url: `${emu.url}/~embed_ms=${opts.embedMs}/v1`, api_key: 'k', model: 'e', dimensions: 32 } }
                : {}),
            },
          },
        })
      ).body;

    /** Starts a streamed chat; the returned leave() aborts it (the client goes away) and says when. */
    function chat(url: string, agentId: string, body: object, key = s.adminKey) {
      const controller = new AbortController();
      const done = fetch(`${url}/api/v1/agents/${agentId}/chat/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
        .then((res) => res.text())
        .catch(() => 'left');
      return {
        leave() {
          controller.abort();
          return Date.now();
        },
        done,
      };
    }

    const chatRequestsFor = (message: string) => emu.requests.filter((r) => JSON.stringify(r.body ?? '').includes(message));

    /** The stored exchange of the turn that asked `message`, if any: [user, assistant]. */
    const storedTurn = async (message: string) => {
      const rows = await s.app.db.query<{ role: string; status: string; error: { code: string } | null }>(
        `select role, status, error from messages where session_id in (select session_id from messages where role = 'user' and content = $1) order by seq`,
        [message],
      );
      return rows;
    };

    const awaitingFirstToken = async () => {
      const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
      return Number(/^agentmem_turns_awaiting_first_token (\d+)/m.exec(text)![1]);
    };

    /** Nothing left behind: no turn before its first token, every upstream request closed. */
    async function nothingLeft() {
      await until('no turn awaiting its first token', async () => (await awaitingFirstToken()) === 0);
      await until('every upstream request closed', () => emu.requests.every((r) => r.closedAt !== undefined));
    }

    async function assertCancelled(message: string) {
      await until('the answer stored', async () => (await storedTurn(message)).some((m) => m.role === 'assistant' && m.status !== 'streaming'));
      const rows = await storedTurn(message);
      assert.deepEqual(
        rows.map((m) => [m.role, m.status, m.error?.code ?? null]),
        [
          ['user', 'complete', null],
          ['assistant', 'incomplete', 'client_aborted'],
        ],
      );
      await nothingLeft();
    }

    test('during recall (an embedder that takes 5 s, budget 10 s): recall stops waiting, the model is never asked', async () => {
      const agent = await createAgent({ embedMs: 5_000, budgetMs: 10_000 });
      const message = `recall ${randomUUID()}`;
      const turn = chat(s.url, agent.id, { message, user_id: 'u1' });
      await until('the query at the embedder', () => emu.embeddings.some((r) => JSON.stringify(r.body ?? '').includes(message)));
      const leftAt = turn.leave();
      await turn.done;
      await until('the answer stored', async () => (await storedTurn(message)).some((m) => m.role === 'assistant' && m.status === 'incomplete'), 4_000);
      assert.ok(Date.now() - leftAt < 4_000, 'the turn ended long before the embedder answered');
      await assertCancelled(message);
      assert.deepEqual(chatRequestsFor(message), [], 'no chat request upstream');
    });

    test('during the upstream wait (first token after 10 s): the upstream request is closed at once (figure reported; asserted within 5 s)', async () => {
      const agent = await createAgent({ firstTokenMs: 10_000 });
      const message = `upstream ${randomUUID()}`;
      const turn = chat(s.url, agent.id, { message, user_id: 'u2' });
      await until('the chat request upstream', () => chatRequestsFor(message).length === 1);
      await wait(50); // the request is waiting for its first token
      const leftAt = turn.leave();
      await turn.done;
      const [upstream] = chatRequestsFor(message);
      await until('the upstream request closed', () => upstream!.closedAt !== undefined);
      // Target 100 ms (the benchmarks' business); asserted: half the 10 s the upstream would take, which
      // proves the cut and not the speed, whatever the load on a shared CI machine.
      const closedMs = upstream!.closedAt! - leftAt;
      console.log(`# ${engine}: upstream request closed ${closedMs} ms after the client left (target 100 ms)`);
      assert.ok(closedMs <= 5_000, `closed ${closedMs} ms after the client left`);
      await assertCancelled(message);
      assert.equal(chatRequestsFor(message).length, 1, 'no retry');
    });

    if (engine === 'postgres') {
      /** Another connection holding `lock table <table>` until release(); resolves once the lock is held. */
      async function holdLock(table: string) {
        const c = new pg.Client({ connectionString: s.databaseUrl });
        await c.connect();
        await c.query('begin');
        await c.query(`lock table ${table} in access exclusive mode`);
        return {
          async release() {
            await c.query('commit');
            await c.end();
          },
        };
      }
      /** Some query of the server is waiting for a lock on `table`. */
      const blockedOn = async (table: string) => {
        const c = new pg.Client({ connectionString: s.databaseUrl });
        await c.connect();
        try {
          const rows = (await c.query(`select count(*)::int as n from pg_locks where not granted and relation = $1::regclass`, [table])).rows;
          return rows[0].n > 0;
        } finally {
          await c.end();
        }
      };

      test('during auth (PostgreSQL: api_keys locked, a key not yet cached): the turn never reaches the model', async () => {
        const agent = await createAgent();
        const key = (await s.api('POST', '/api/v1/api-keys', { body: { name: 'not-cached', role: 'admin' } })).body.key as string;
        const message = `auth ${randomUUID()}`;
        const lock = await holdLock('api_keys');
        let turn: ReturnType<typeof chat>;
        try {
          turn = chat(s.url, agent.id, { message, user_id: 'u3' }, key);
          await until('the key lookup waiting on the lock', () => blockedOn('api_keys'));
          turn.leave();
          await turn.done;
          await wait(100);
        } finally {
          await lock.release();
        }
        await wait(300); // the request goes on from auth now, if it does
        await nothingLeft();
        assert.deepEqual(chatRequestsFor(message), [], 'no chat request upstream');
        // Either it stopped before the turn (nothing stored), or the turn is recorded as cancelled.
        const rows = await storedTurn(message);
        if (rows.length)
          assert.deepEqual(
            rows.map((m) => [m.role, m.status, m.error?.code ?? null]),
            [
              ['user', 'complete', null],
              ['assistant', 'incomplete', 'client_aborted'],
            ],
          );
        assert.equal((await s.api('GET', `/api/v1/agents/${agent.id}`, { key })).status, 200, 'the key works once the lock is gone');
      });

      test('during the agent lookup (PostgreSQL: agents locked, an agent not yet cached): the body was read, the turn is recorded as cancelled', async () => {
        const agent = await createAgent();
        const message = `agent ${randomUUID()}`;
        const lock = await holdLock('agents');
        try {
          const turn = chat(s.url, agent.id, { message, user_id: 'u5' });
          await until('the agent lookup waiting on the lock', () => blockedOn('agents'));
          turn.leave();
          await turn.done;
          await wait(100);
        } finally {
          await lock.release();
        }
        // The client left before the turn could listen for it: the turn must see it gone all the same.
        await assertCancelled(message);
        assert.deepEqual(chatRequestsFor(message), [], 'no chat request upstream');
      });

      test('during history (PostgreSQL: messages locked, a session not cached on a second instance): recorded as cancelled, the model never asked', async () => {
        const agent = await createAgent();
        const first = await s.api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'hello', user_id: 'u4' } });
        assert.equal(first.status, 200, JSON.stringify(first.body));
        // Another instance on the same database (and secret key): the session is not in its cache.
        const other = await startServer(engine, { databaseUrl: s.databaseUrl, dataDir: s.dataDir, bootstrapKey: s.adminKey });
        try {
          const message = `history ${randomUUID()}`;
          const lock = await holdLock('messages');
          try {
            const turn = chat(other.url, agent.id, { message, session_id: first.body.session_id }, s.adminKey);
            await until('the history read waiting on the lock', () => blockedOn('messages'));
            turn.leave();
            await turn.done;
            await wait(100);
          } finally {
            await lock.release();
          }
          // The session's first answer is complete already: wait for the answer after `message`, the last row.
          await until('the answer stored', async () => {
            const last = (await storedTurn(message)).at(-1);
            return last?.role === 'assistant' && last.status !== 'streaming';
          });
          const rows = await storedTurn(message);
          assert.deepEqual(
            rows.map((m) => [m.role, m.status, m.error?.code ?? null]),
            [
              ['user', 'complete', null],
              ['assistant', 'complete', null],
              ['user', 'complete', null],
              ['assistant', 'incomplete', 'client_aborted'],
            ],
          );
          await until('no turn awaiting its first token on the other instance', async () =>
            /^agentmem_turns_awaiting_first_token 0$/m.test(
              await (await fetch(`${other.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text(),
            ),
          );
          assert.deepEqual(chatRequestsFor(message), [], 'no chat request upstream');
          await nothingLeft();
        } finally {
          await other.close();
        }
      });
    }
  });
}
