// 1,000 clients that leave mid-stream: each one aborts its upstream request, and
// afterwards no socket, timer or listener is left behind.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import type { Emulator } from '../src/emulator/server.ts';
import { engines, type StoredMessage, type TestServer, serverAndEmulator, waitFor } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

const STREAMS = 1_000;
const CONCURRENCY = 25;

const handles = () => {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
};

for (const engine of engines) {
  describe(`aborted streams on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    test(`${STREAMS} clients leaving mid-stream leave no socket, timer or listener behind`, async () => {
      const text = 'word '.repeat(400);
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: {
            name: 'leaky?',
            llm: { provider: 'openai-compatible', model: 'm', base_url: `${emu.url}${optionPath({ tokens_per_s: 200, text })}/v1`, api_key: 'k' },
          },
        })
      ).body;
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on('warning', onWarning);

      // The clients' own pool, closed before counting: its idle sockets are not the server's.
      const clients = new Agent();
      async function abortOne() {
        const controller = new AbortController();
        const res = await fetch(`${s.url}/api/v1/agents/${agent.id}/chat/stream`, {
          dispatcher: clients,
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'go' }),
          signal: controller.signal,
        });
        const reader = res.body!.getReader();
        let seen = '';
        while (!seen.includes('"chunk_type":"content"')) {
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended before any content');
          seen += Buffer.from(value).toString();
        }
        controller.abort();
        await reader.closed.catch(() => {});
      }

      await abortOne(); // warm: pools, caches, lazy modules
      await settle(emu);
      await poolConnections(s);
      const baseline = handles();
      const pooledBefore = await poolConnections(s);
      const requestsBefore = emu.requests.length;

      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < STREAMS) {
            next++;
            await abortOne();
          }
        }),
      );
      await clients.close();
      await settle(emu);
      process.off('warning', onWarning);

      assert.equal(emu.requests.length - requestsBefore, STREAMS, 'one upstream request per stream, no retries');
      assert.ok(
        emu.requests.slice(requestsBefore).every((r) => r.closedAt !== undefined),
        'every upstream request was closed',
      );
      const now = handles();
      // Idle keep-alive connections to the emulator are the pool doing its job, not a leak;
      // the emulator runs in this process, so each one is two sockets here.
      const pooled = await poolConnections(s);
      assert.equal(pooled.open, pooled.idle, 'no upstream request is still running');
      // Each worker holds at most its chat's connection plus one a warm-up opened beside it (a
      // mid-answer abort destroys the chat's socket, so the next turn may warm a new one); a leak
      // would grow with the 1000 streams, not with the 25 workers.
      assert.ok(pooled.open <= 2 * CONCURRENCY, `pool bounded by concurrency: ${pooled.open}`);
      // So are the database pool's connections (PostgreSQL grows its pool under load).
      const expectedSockets = (baseline.TCPSocketWrap ?? 0) + 2 * (pooled.open - pooledBefore.open) + (pooled.db - pooledBefore.db);
      assert.ok(
        (now.TCPSocketWrap ?? 0) <= expectedSockets + 2,
        `sockets: ${baseline.TCPSocketWrap} before, ${now.TCPSocketWrap} after, ${pooled.open} upstream and ${pooled.db} database connections pooled`,
      );
      // The database pool keeps an idle timer per connection (PostgreSQL: up to 20); a leak would be one per stream.
      assert.ok((now.Timeout ?? 0) <= (baseline.Timeout ?? 0) + 22, `timers: ${baseline.Timeout ?? 0} before, ${now.Timeout ?? 0} after`);
      assert.deepEqual(
        warnings.map((w) => w.name),
        [],
        'no MaxListenersExceededWarning or other warning',
      );
      const sessions = await s.api('GET', `/api/v1/agents/${agent.id}/sessions?limit=5`);
      const messages = await s.api('GET', `/api/v1/sessions/${sessions.body.data[0].id}/messages`);
      assert.deepEqual(
        messages.body.data.map((m: StoredMessage) => m.status),
        ['complete', 'incomplete'],
        'partial answers are kept, marked incomplete',
      );
    });
  });
}

async function poolConnections(s: { url: string; adminKey: string }) {
  const dispatcher = new Agent();
  const text = await (await fetch(`${s.url}/metrics`, { dispatcher, headers: { authorization: `Bearer ${s.adminKey}` } })).text();
  await dispatcher.close();
  const read = (name: string, state: string) => Number(new RegExp(`${name}\\{state="${state}"\\} (\\d+)`).exec(text)![1]);
  return {
    open: read('agentmem_upstream_connections', 'open'),
    idle: read('agentmem_upstream_connections', 'idle'),
    db: read('agentmem_db_connections', 'open'),
  };
}

/** Waits until every upstream request has closed and the server has stored every answer. */
async function settle(emu: { requests: Array<{ closedAt?: number }> }) {
  await waitFor('every upstream request closed', () => emu.requests.every((r) => r.closedAt !== undefined));
  // the server's side of each close (its answer stored, its socket back in the pool) has no signal to wait on
  await new Promise((r) => setTimeout(r, 200));
}
