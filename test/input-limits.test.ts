// What one request may bring, by the kind of key (docs/security.md#limits): a scoped key's
// import and batch are refused past an end user's limits; an admin's maximal import and batch
// run in bounded pieces while /health keeps answering at once; a filter too large is a 400
// naming its limit, not a statement overflowing the store's parameter limit.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Emulator } from '../src/emulator/server.ts';
import { emulatorAgent, engines, serverAndEmulator, type StoredMessage, type TestServer } from './harness.ts';

const MiB = 1024 * 1024;

/** `count` messages whose JSON body is about `bytes` long. */
function conversation(count: number, bytes: number) {
  const content = 'x'.repeat(Math.max(1, Math.floor(bytes / count) - 120));
  const t0 = Date.parse('2025-01-01T00:00:00Z');
  return Array.from({ length: count }, (_, i) => ({
    role: i % 2 ? 'assistant' : 'user',
    content: `${i} ${content}`,
    created_at: new Date(t0 + i * 1000).toISOString(),
  }));
}

/** Polls `path` one request after another while `work` runs; the latencies in ms. */
async function latenciesDuring(url: string, path: string, work: Promise<unknown>, statuses: number[] = []): Promise<number[]> {
  let done = false;
  const finished = work.finally(() => (done = true));
  const samples: number[] = [];
  while (!done) {
    const t0 = performance.now();
    const res = await fetch(url + path);
    await res.arrayBuffer();
    samples.push(performance.now() - t0);
    statuses.push(res.status);
    await new Promise((r) => setTimeout(r, 5));
  }
  await finished;
  return samples;
}

/** /health (the event loop) and /ready (a statement through the store) polled while `work` runs. */
const probesDuring = async (url: string, work: Promise<unknown>) => {
  const readyStatuses: number[] = [];
  const [health, ready] = await Promise.all([latenciesDuring(url, '/health', work), latenciesDuring(url, '/ready', work, readyStatuses)]);
  return { health, ready, readyStatuses };
};

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

for (const engine of engines) {
  describe(`input limits by kind of key on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let agentId: string;
    let scopedKey: string;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));
    before(async () => {
      agentId = (await emulatorAgent(s, emu, { text: 'ok' }, { memory: { extract: false } })).id;
      await s.api('POST', '/api/v1/users', { body: { id: 'enduser' } });
      const minted = await s.api('POST', '/api/v1/api-keys', { body: { name: 'web:enduser', user_id: 'enduser', agent_ids: [agentId] } });
      assert.equal(minted.status, 201, JSON.stringify(minted.body));
      scopedKey = minted.body.key;
    });

    test('a scoped key: an import over 1 MiB or 1,000 messages, a batch over 256 KiB or 100 memories, is 413 naming the limit', async () => {
      const asUser = (path: string, body: object) => s.api('POST', path, { key: scopedKey, body });
      const bigImport = await asUser('/api/v1/sessions/import', { agent_id: agentId, messages: conversation(100, 2 * MiB) });
      assert.equal(bigImport.status, 413, JSON.stringify(bigImport.body).slice(0, 300));
      assert.equal(bigImport.body.error.code, 'payload_too_large');
      assert.match(bigImport.body.error.message, /1048576 bytes.*scoped key/);
      // a body without content-length (chunked) is counted as it arrives
      const chunks = [JSON.stringify({ agent_id: agentId, messages: conversation(100, 2 * MiB) })];
      const streamed = await fetch(`${s.url}/api/v1/sessions/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${scopedKey}`, 'content-type': 'application/json' },
        body: new ReadableStream({
          pull(c) {
            const next = chunks.pop();
            if (next) c.enqueue(new TextEncoder().encode(next));
            else c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      assert.equal(streamed.status, 413);
      assert.equal(((await streamed.json()) as { error: { code: string } }).error.code, 'payload_too_large');
      const longImport = await asUser('/api/v1/sessions/import', { agent_id: agentId, messages: conversation(1_001, 100_000) });
      assert.equal(longImport.status, 413);
      assert.match(longImport.body.error.message, /At most 1000 messages per request for a scoped key/);
      const fits = await asUser('/api/v1/sessions/import', { agent_id: agentId, messages: conversation(1_000, 200_000) });
      assert.equal(fits.status, 201, JSON.stringify(fits.body));

      const memories = (n: number, size: number) => ({
        agent_id: agentId,
        memories: Array.from({ length: n }, (_, i) => ({ content: `${i} ${'m'.repeat(size)}` })),
      });
      const bigBatch = await asUser('/api/v1/memories/batch', memories(20, 15_000));
      assert.equal(bigBatch.status, 413);
      assert.match(bigBatch.body.error.message, /262144 bytes/);
      const longBatch = await asUser('/api/v1/memories/batch', memories(101, 10));
      assert.equal(longBatch.status, 413);
      assert.match(longBatch.body.error.message, /At most 100 memories/);
      assert.equal((await asUser('/api/v1/memories/batch', memories(100, 10))).status, 201);
      // an admin key may send what the scoped one may not
      assert.equal((await s.api('POST', '/api/v1/memories/batch', { body: memories(20, 15_000) })).status, 201);
      const stored = await s.api('GET', `/api/v1/memories?agent_id=${agentId}&user_id=enduser&limit=200`, { key: scopedKey });
      assert.equal(stored.body.data.length, 100, 'only what fitted was stored');
    });

    test('an admin’s maximal import (16 MiB, 10,000 messages) and batch run while /health answers: p95 under 100 ms', async () => {
      const messages = conversation(10_000, 16 * MiB - 4096);
      const body = JSON.stringify({ agent_id: agentId, user_id: 'bulk', messages });
      assert.ok(body.length > 15 * MiB && body.length <= 16 * MiB, `${body.length} bytes`);
      const t0 = performance.now();
      const imported = fetch(`${s.url}/api/v1/sessions/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
        body,
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
      const during = await probesDuring(s.url, imported);
      const importMs = performance.now() - t0;
      const res = await imported;
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.count, 10_000);

      const batchBody = JSON.stringify({
        agent_id: agentId,
        user_id: 'bulk',
        memories: Array.from({ length: 10_000 }, (_, i) => ({ content: `fact ${i} ${'y'.repeat(1_500)}` })),
      });
      const t1 = performance.now();
      const batched = fetch(`${s.url}/api/v1/memories/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
        body: batchBody,
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
      const duringBatch = await probesDuring(s.url, batched);
      const batchMs = performance.now() - t1;
      const b = await batched;
      assert.equal(b.status, 201, JSON.stringify(b.body).slice(0, 300));
      assert.equal(b.body.count, 10_000);

      const fmt = (xs: number[]) =>
        `${xs.length} samples, p50 ${percentile(xs, 50).toFixed(1)} ms, p95 ${percentile(xs, 95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
      const report = (what: string, mib: number, ms: number, d: { health: number[]; ready: number[] }) =>
        console.log(`[${engine}] ${what} of ${mib.toFixed(1)} MiB in ${ms.toFixed(0)} ms; /health meanwhile: ${fmt(d.health)}; /ready: ${fmt(d.ready)}`);
      report('import', body.length / MiB, importMs, during);
      report('batch', batchBody.length / MiB, batchMs, duringBatch);
      for (const [what, d] of [
        ['import', during],
        ['batch', duringBatch],
      ] as const) {
        assert.ok(d.health.length >= 20, `${what}: enough samples to judge`);
        assert.ok(percentile(d.health, 95) < 100, `${what}: /health ${fmt(d.health)}`);
        // the store is not held for the whole import: a readiness probe keeps passing
        assert.ok(
          d.readyStatuses.every((st) => st === 200),
          `${what}: /ready answered ${d.readyStatuses.join(',')}`,
        );
      }

      // the import is whole and in order
      const page = await s.api('GET', `/api/v1/sessions/${res.body.session_id}/messages?limit=3`);
      assert.deepEqual(
        page.body.data.map((m: StoredMessage) => m.content.split(' ')[0]),
        ['0', '1', '2'],
      );
    });

    test('a filter of 70,000 keys is a 400 naming the limit, for search and for an agent’s recall', async () => {
      const huge = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i.toString(36)}`, 0])); // ~0.6 MB: under the body limit
      const search = await s.api('POST', '/api/v1/memories/search', { body: { query: 'fact', filters: huge } });
      assert.equal(search.status, 400, JSON.stringify(search.body).slice(0, 300));
      assert.equal(search.body.error.code, 'validation_error');
      assert.match(search.body.error.message, /at most 1000 conditions/);
      const scoped = await s.api('POST', '/api/v1/memories/search', { key: scopedKey, body: { query: 'fact', filters: { or: [huge] } } });
      assert.equal(scoped.status, 400);
      assert.match(scoped.body.error.message, /at most 1000 conditions/);
      const recall = await s.api('PATCH', `/api/v1/agents/${agentId}`, { body: { memory: { semantic_recall: { filters: huge } } } });
      assert.equal(recall.status, 400);
      assert.match(recall.body.error.message, /at most 1000 conditions/);
      // 1,000 conditions is a filter, answered
      const most = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`k${i.toString(36)}`, 0]));
      const ok = await s.api('POST', '/api/v1/memories/search', { body: { query: 'fact', filters: most } });
      assert.equal(ok.status, 200, JSON.stringify(ok.body).slice(0, 300));
    });
  });
}
