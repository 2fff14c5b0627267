// A client that stays stalled (its socket full, nothing read) for AGENTMEM_STREAM_STALL_MS
// is cut off: the answer is stored incomplete with `client_stalled` (what was sent so far),
// the upstream request is closed, the connection too. Native SSE and WebSocket, both engines.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { engines, type StoredMessage } from './harness.ts';
import { ANSWER_BYTES, chat, lastMessage, openBytes, pausedPost, pausedWs, setup } from './backpressure-clients.ts';

for (const engine of engines) {
  describe(`stalled clients, ${engine}`, () => {
    test('clients that stay stalled past AGENTMEM_STREAM_STALL_MS are cut off: client_stalled, upstream closed', async () => {
      const STALL_MS = 1_500;
      const s = await setup(engine, { AGENTMEM_STREAM_STALL_MS: String(STALL_MS) });
      const clients: Array<{ destroy(): void }> = [];
      try {
        const sse = await pausedPost(s.url, `/api/v1/agents/${s.agentId}/chat/stream`, chat);
        const ws = await pausedWs(s.url, s.agentId);
        clients.push(sse, ws);
        const start = JSON.parse(/data: (.*)\n/.exec(sse.first.toString())![1]!);
        assert.equal(ws.first.chunk_type, 'start');
        // Each is cut off once its socket stays full for the stall time (after the kernel's buffers fill).
        for (const session of [start.session_id, ws.first.session_id]) {
          let stored: StoredMessage | undefined;
          for (const t0 = Date.now(); Date.now() - t0 < 120_000; await sleep(250)) {
            stored = await lastMessage(s.api, session);
            if (stored && stored.status !== 'streaming') break;
          }
          assert.deepEqual([stored?.status, stored?.error?.code], ['incomplete', 'client_stalled']);
          assert.ok(stored!.content.length > 0 && stored!.content.length < ANSWER_BYTES / 2, `what was sent is stored (${stored!.content.length} chars)`);
        }
        // The server dropped the connection: a client that looks again finds it closed.
        ws.ws.resume();
        await Promise.race([ws.closed, sleep(10_000).then(() => assert.fail('the stalled WebSocket was not closed'))]);
        for (const t0 = Date.now(); (await openBytes(s.emu)).length && Date.now() - t0 < 30_000;) await sleep(200);
        assert.deepEqual(await openBytes(s.emu), [], 'both upstream requests were closed');
      } finally {
        for (const c of clients) c.destroy();
        await s.close();
      }
    });
  });
}
