// Fallback on a slow first token: the fallback model joins after `after_ms`, the first
// to answer serves, the other is cancelled, and `done` says which model served.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { chatOf, engines, streamChat, type TestServer, serverAndEmulator, waitFor } from './harness.ts';

const engine = engines[0]!;

describe(`fallback on ${engine}`, () => {
  let s: TestServer;
  let emu: Emulator;
  // The emulator's model names are not public ones: named, so the metric shows them (AGENTMEM_METRICS_MODELS).
  serverAndEmulator(engine, (w) => ({ s, emu } = w), { server: { metricsModels: ['fast-fallback'] } });

  const agentWith = async (primary: string, fallback: string, afterMs: number) =>
    (
      await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'racer',
          llm: {
            provider: 'openai-compatible',
            model: 'slow-primary',
            base_url: `${emu.url}${primary}/v1`,
            api_key: 'k',
            max_retries: 0,
            fallback: { model: 'fast-fallback', base_url: `${emu.url}${fallback}/v1`, after_ms: afterMs },
          },
        },
      })
    ).body;

  test('a primary with no token after after_ms loses to the fallback, and is cancelled', async () => {
    // a primary 20 s from its first token: bounds of 10 s below say "did not wait for it", not how fast
    const agent = await agentWith('/~first_token_ms=20000/~text=primary', '/~text=fallback%20answer', 150);
    const before = emu.requests.length;
    const started = Date.now();
    const { events, text } = await streamChat(s, agent.id, { message: 'hi' });
    const done = events.at(-1);
    assert.equal(done.chunk_type, 'done');
    assert.equal(text, 'fallback answer');
    assert.equal(done.model, 'fast-fallback');
    assert.equal(done.fallback, true);
    assert.ok(Date.now() - started < 10_000, `did not wait for the slow primary: ${Date.now() - started} ms`);
    const [primaryReq, fallbackReq] = emu.requests.slice(before);
    assert.equal(chatOf(primaryReq!).model, 'slow-primary');
    assert.equal(chatOf(fallbackReq!).model, 'fast-fallback');
    // The race starts after the client sent its request, so this is a strict lower bound.
    assert.ok(fallbackReq!.receivedAt - started >= 150, `the fallback started after after_ms: ${fallbackReq!.receivedAt - started} ms`);
    await waitFor('the primary request closed', () => primaryReq!.closedAt !== undefined);
    assert.ok(primaryReq!.closedAt! - started < 10_000, 'the primary was cancelled, not left running');
    const metrics = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
    assert.match(metrics, /agentmem_upstream_first_token_seconds_count\{provider="openai-compatible",model="fast-fallback"\} 1/);
  });

  test('a primary that answers within after_ms serves alone', async () => {
    const agent = await agentWith('/~text=primary%20answer', '/~text=fallback', 1_000);
    const before = emu.requests.length;
    const { events, text } = await streamChat(s, agent.id, { message: 'hi' });
    assert.equal(text, 'primary answer');
    assert.equal(events.at(-1).model, 'slow-primary');
    assert.equal(events.at(-1).fallback, undefined);
    assert.equal(emu.requests.length - before, 1, 'no fallback request');
  });

  test('a primary that fails before its first token hands over at once', async () => {
    // after_ms 20 s: handing over within half of it is "at once", whatever the load
    const agent = await agentWith('/~fault=500', '/~text=rescued', 20_000);
    const started = Date.now();
    const { events, text } = await streamChat(s, agent.id, { message: 'hi' });
    assert.equal(text, 'rescued');
    assert.equal(events.at(-1).model, 'fast-fallback');
    assert.ok(Date.now() - started < 10_000, `did not wait for after_ms: ${Date.now() - started} ms`);
  });

  test('both failing is one clear error', async () => {
    const agent = await agentWith('/~fault=500', '/~fault=401', 100);
    const { events } = await streamChat(s, agent.id, { message: 'hi' });
    assert.equal(events.at(-1).chunk_type, 'error');
    assert.match(events.at(-1).code, /^upstream_/);
  });
});
