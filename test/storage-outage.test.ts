// PostgreSQL out of reach, for this test's server only: its database URL points at a TCP
// proxy in this process, which the test cuts (every connection dropped, new ones closed
// at once) and restores. PostgreSQL itself, shared with others, is never touched.
//   - /health (liveness) stays 200; /ready (readiness) turns 503 within its deadline and
//     back to 200 when the store returns, and says which check failed;
//   - requests that need the store answer 503 storage_unavailable with Retry-After (not 502);
//   - an answer whose final write failed gets a retryable `error` event, and is written
//     once the store is back: stored complete with its whole text, nothing left streaming.
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { apiClient, createTestDatabase, engines, readSse, startServer, type Api, type TestServer, type WireEvent } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';

const redisUrl = process.env.AGENTMEM_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const words = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');

/** A TCP relay to PostgreSQL that can be cut (all connections dropped, new ones refused) and restored. */
async function cuttableProxy(target: URL): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((client) => {
    if (!up) return void client.destroy();
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) sockets.add(s);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.toString(),
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('PostgreSQL out of reach', { skip: !engines.includes('postgres') && 'needs PostgreSQL' }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let proxy: Awaited<ReturnType<typeof cuttableProxy>>;
  let s: TestServer;
  let api: Api;
  let emu: Emulator;
  let direct: pg.Client;
  const key = 'am_outage_key_0123456789abcdef0123';

  before(async () => {
    database = await createTestDatabase('postgres');
    proxy = await cuttableProxy(new URL(database.url));
    emu = await startEmulator({ port: 0 });
    s = await startServer('postgres', {
      databaseUrl: proxy.url,
      redisUrl,
      redisKeyPrefix: `agentmem-test-outage-${randomBytes(4).toString('hex')}:`,
      bootstrapKey: key,
      readyTimeoutMs: 1_000,
    });
    api = apiClient(s.url, key);
    direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
  });
  after(async () => {
    proxy?.restore();
    await s?.close();
    await proxy?.close();
    await emu?.close();
    await direct?.end();
    await database?.drop();
  });

  test('health, readiness, 503 storage_unavailable, and an answer stored once the store is back', async () => {
    const agent = (
      await api('POST', '/api/v1/agents', {
        body: {
          name: 'o',
          llm: {
            provider: 'openai-compatible',
            model: 'gpt-4o-mini',
            base_url: `${emu.url}${optionPath({ tokens_per_s: 30, text: words })}/v1`,
            api_key: 'sk',
          },
        },
      })
    ).body;
    const ready = await fetch(`${s.url}/ready`);
    const readyBody = await ready.json();
    assert.equal(ready.status, 200);
    assert.deepEqual([readyBody.checks.store.ok, readyBody.checks.redis.ok], [true, true]);

    // A stream that will end during the outage (2 s of answer; the cut comes after 0.5 s).
    const frames: WireEvent[] = [];
    const res = await fetch(`${s.url}/api/v1/agents/${agent.id}/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'talk', user_id: 'o' }),
    });
    const reading = readSse(res, (f) => frames.push(f.data));
    await sleep(500);
    proxy.cut();
    const cutAt = Date.now();

    assert.equal((await fetch(`${s.url}/health`)).status, 200, 'liveness: the process answers');
    const notReady = await fetch(`${s.url}/ready`);
    const notReadyBody = await notReady.json();
    assert.equal(notReady.status, 503);
    assert.ok(notReady.headers.get('retry-after'));
    assert.equal(notReadyBody.checks.store.ok, false);
    assert.equal(notReadyBody.checks.redis.ok, true);
    assert.ok(Date.now() - cutAt < 3_000, 'within the readiness deadline');

    // Needs the store: 503 storage_unavailable with Retry-After, on the API, the JSON chat and the OpenAI surface.
    const list = await api('GET', '/api/v1/agents');
    assert.equal(list.status, 503, JSON.stringify(list.body));
    assert.equal(list.body.error.code, 'storage_unavailable');
    assert.ok(Number(list.headers.get('retry-after')) > 0);
    const chat = await api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'hello' } });
    assert.equal(chat.status, 503, JSON.stringify(chat.body));
    assert.equal(chat.body.error.code, 'storage_unavailable');
    assert.equal(chat.body.retryable, true);
    const oai = await api('POST', '/v1/chat/completions', { body: { model: agent.id, messages: [{ role: 'user', content: 'hello' }] } });
    assert.equal(oai.status, 503, JSON.stringify(oai.body));
    assert.equal(oai.body.error.code, 'storage_unavailable');

    // The stream ends while the store is down: its final write fails, the client is told.
    await reading;
    const text = frames
      .filter((e) => e.chunk_type === 'content')
      .map((e) => e.content)
      .join('');
    assert.equal(text, words, 'the whole answer was streamed');
    assert.deepEqual([frames.at(-1).chunk_type, frames.at(-1).code, frames.at(-1).retryable], ['error', 'storage_unavailable', true]);
    const { message_id } = frames[0];
    assert.equal((await direct.query('select status from messages where id = $1', [message_id])).rows[0].status, 'streaming', 'not yet written');

    // The store returns: ready again, and the answer is written by the retry loop.
    proxy.restore();
    let row!: { status: string; content: string };
    for (const t0 = Date.now(); Date.now() - t0 < 40_000; await sleep(200)) {
      row = (await direct.query('select status, content from messages where id = $1', [message_id])).rows[0];
      if (row.status !== 'streaming') break;
    }
    assert.deepEqual([row.status, row.content], ['complete', words], 'stored whole once the store was back');
    assert.equal((await direct.query(`select count(*)::int as n from messages where status = 'streaming'`)).rows[0].n, 0, 'nothing left streaming');
    let back = 0;
    for (const t0 = Date.now(); back !== 200 && Date.now() - t0 < 10_000; await sleep(200)) back = (await fetch(`${s.url}/ready`)).status;
    assert.equal(back, 200, 'ready again');
    assert.equal((await api('GET', '/api/v1/agents')).status, 200);
  });
});

describe('readiness on the embedded store', { skip: !engines.includes('pglite') && 'embedded engine not selected' }, () => {
  test('/health and /ready answer 200; /ready names the store check (no Redis configured)', async () => {
    const s = await startServer('pglite');
    try {
      const health = await fetch(`${s.url}/health`);
      assert.deepEqual([health.status, (await health.json()).status], [200, 'ok']);
      const ready = await fetch(`${s.url}/ready`);
      const body = await ready.json();
      assert.equal(ready.status, 200);
      assert.equal(body.status, 'ready');
      assert.equal(body.checks.store.ok, true);
      assert.equal(body.checks.redis, undefined);
    } finally {
      await s.close();
    }
  });
});
