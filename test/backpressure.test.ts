// Backpressure end to end, on the real CLI (a child process, so its memory is its own).
// Six clients on every surface (native SSE, WebSocket, OpenAI-compatible, UI stream) ask
// for a ~4 MB answer and stop reading. The server stops reading the model: the emulator's
// byte counts stop (its writes wait for 'drain', /_emulator/stats) far short of a whole
// answer, and the server's resident memory grows by less than 50 MiB. A client that reads
// again gets its whole answer, byte for byte. (A client that stays stalled: backpressure-stall.test.ts.)
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { engines, streamChat } from './harness.ts';
import { ANSWER_BYTES, chat, key, MiB, openBytes, PIECE, pausedPost, pausedWs, readRest, REPEAT, rssOf, setup, stats } from './backpressure-clients.ts';
import { optionPath } from '../src/emulator/options.ts';

for (const engine of engines) {
  // Issue 18's target: under 50 MiB. What six paused streams hold, measured after a full GC,
  // is ~17 MiB (their held frames, socket queues and answers so far); the rest of the RSS
  // is garbage of the burst, which the server bounds (heap growth 25%, src/cli/serve.ts).
  const BOUND = 50 * MiB;
  describe(`backpressure, ${engine}`, () => {
    test('six paused clients: the upstream pauses, memory stays flat; one reads again and gets it all', async () => {
      const s = await setup(engine, { AGENTMEM_STREAM_STALL_MS: '600000' });
      const clients: Array<{ destroy(): void }> = [];
      try {
        // Warm up with six 1 MB answers at once, read at full speed: V8's heap (its young
        // generation above all, up to 3 × 16 MiB) grows to its working size under the same
        // load as below and keeps it, whatever the clients do; the baseline is taken after it,
        // so the growth below is what the paused clients hold.
        const warm = (
          await s.api('POST', '/api/v1/agents', {
            body: {
              name: 'warm',
              llm: {
                provider: 'openai-compatible',
                model: 'gpt-4o-mini',
                base_url: `${s.emu.url}${optionPath({ text: PIECE, repeat: REPEAT / 4 })}/v1`,
                api_key: 'sk',
              },
            },
          })
        ).body.id;
        const warmed = await Promise.all(Array.from({ length: 6 }, () => streamChat({ url: s.url, adminKey: key }, warm, { message: 'warm up' })));
        for (const w of warmed) assert.equal(w.text.length, (ANSWER_BYTES / 4) | 0);
        // The baseline: the lowest of a few samples (the store's start-up may still be giving memory back).
        let rss0 = Infinity;
        for (let i = 0; i < 6; i++, await sleep(500)) rss0 = Math.min(rss0, rssOf(s.child.pid!));

        const sse1 = await pausedPost(s.url, `/api/v1/agents/${s.agentId}/chat/stream`, chat);
        clients.push(sse1);
        for (const path of [`/api/v1/agents/${s.agentId}/chat/stream`, `/api/v1/agents/${s.agentId}/chat/stream`])
          clients.push(await pausedPost(s.url, path, chat));
        clients.push(await pausedPost(s.url, '/v1/chat/completions', { model: s.agentId, stream: true, messages: [{ role: 'user', content: chat.message }] }));
        clients.push(
          await pausedPost(s.url, `/api/v1/agents/${s.agentId}/chat/ui`, {
            messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: chat.message }] }],
          }),
        );
        clients.push(await pausedWs(s.url, s.agentId));

        // The upstream stops: once the kernel's socket buffers on both hops are full (several
        // MB each), the emulator's byte counts stand still and all six writes wait for 'drain'.
        const t0 = Date.now();
        const rss: number[] = [];
        let still = false;
        while (!still && Date.now() - t0 < 90_000) {
          const before = (await openBytes(s.emu)).join();
          for (let i = 0; i < 4; i++, await sleep(500)) rss.push(rssOf(s.child.pid!) - rss0);
          still = (await stats(s.emu)).streams_waiting === 6 && (await openBytes(s.emu)).join() === before;
        }
        const paused = await openBytes(s.emu);
        assert.ok(still, `the upstream writes stopped, waiting for the server: ${paused.map((b) => (b / MiB).toFixed(1)).join(', ')} MiB`);
        const pausedAfter = Date.now() - t0;
        // Resident memory while they stay paused: its peak over a few seconds (what the burst
        // before the pause left is part of it, as it is in production), against the lowest
        // reading since the warm-up: the baseline may still hold the warm-up's garbage that a
        // GC during the burst gives back, and that must not hide what the streams hold.
        const floor = Math.min(0, ...rss);
        const window: number[] = [];
        for (let i = 0; i < 8; i++, await sleep(500)) window.push(rssOf(s.child.pid!) - rss0);
        rss.push(...window);
        const growth = Math.max(...window) - floor;
        const peak = Math.max(...rss);
        assert.ok(growth < BOUND, `server RSS grew ${(growth / MiB).toFixed(1)} MiB with six paused clients (peak ${(peak / MiB).toFixed(1)} MiB)`);

        // One client reads again: its upstream goes on, and the whole answer arrives.
        const t1 = Date.now();
        const rest = await readRest(sse1);
        const readMs = Date.now() - t1;
        assert.equal(rest.last!.chunk_type, 'done');
        assert.equal(rest.text.length, ANSWER_BYTES);
        assert.equal(rest.text, PIECE.repeat(REPEAT), 'the resumed client got the whole answer, byte for byte');
        // (the longest closed stream: the warm-up's are a quarter of it, and one of them may be
        // longer than every paused one: 21.5 MiB against 21.3 was seen)
        const whole = Math.max(0, ...(await stats(s.emu)).streams.filter((x) => !x.open).map((x) => x.bytes_written));
        assert.ok(whole > Math.max(...paused), 'the resumed stream ended, the longest');
        // Short of the whole answer by a margin: what a stream held when it paused is mostly kernel
        // buffers, and loopback autotunes a receive buffer up to tcp_rmem's max (32 MiB here) on
        // each of its two hops — 8–30 MiB usually, 43.6 of 85.8 once under CI's load.
        assert.ok(
          paused.every((b) => b < whole * 0.75),
          `each upstream paused well short of a whole answer: ${paused.map((b) => (b / MiB).toFixed(1)).join(', ')} of ${(whole / MiB).toFixed(1)} MiB`,
        );
        console.log(
          `# ${engine}: six paused clients: upstream stopped after ${pausedAfter} ms at ${paused.map((b) => (b / MiB).toFixed(1)).join(', ')} MiB ` +
            `of ${(whole / MiB).toFixed(1)} MiB; server RSS +${(growth / MiB).toFixed(1)} MiB over its lowest since the warm-up (that is ${(floor / MiB).toFixed(1)} from the baseline; peak ${(peak / MiB).toFixed(1)}); ` +
            `the resumed client read the rest (${(ANSWER_BYTES / MiB).toFixed(1)} MiB of text) in ${readMs} ms`,
        );
      } finally {
        for (const c of clients) c.destroy();
        await s.close();
      }
    });
  });
}
