// A provider over HTTPS across a real-looking network: the emulator serves TLS with a
// certificate it made at start and delays every round trip by 30 ms. agentmem (the real
// CLI) trusts that certificate the usual Node way, NODE_EXTRA_CA_CERTS. Only the first
// turn pays the TCP + TLS handshakes; every later turn reuses the connection.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { apiClient, createTestDatabase, engines, spawnServe, streamChat } from './harness.ts';

const RTT_MS = 30;
const TURNS = 10;
const key = 'am_tls_test_key_0123456789abcdef';

describe('an HTTPS provider with a 30 ms round trip', () => {
  let emu: Emulator;
  let dir: string;
  let caFile: string;
  before(async () => {
    emu = await startEmulator({ port: 0, profile: 'instant', tls: true, rttMs: RTT_MS });
    dir = mkdtempSync(join(tmpdir(), 'agentmem-tls-'));
    caFile = join(dir, 'emulator-ca.pem');
    writeFileSync(caFile, emu.ca!);
  });
  after(async () => {
    await emu?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(env: Record<string, string | undefined>) {
    const dataDir = mkdtempSync(join(dir, 'data-'));
    const { child, url } = await spawnServe({ AGENTMEM_DATA_DIR: dataDir, AGENTMEM_BOOTSTRAP_KEY: key, ...env });
    const s = { url, adminKey: key, api: apiClient(url, key) };
    const agent = (
      await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'tls',
          llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: `${emu.url}/v1`, api_key: 'k', max_retries: 0 },
          memory: { last_messages: 0, semantic_recall: { enabled: false }, extract: false },
        },
      })
    ).body;
    return {
      s,
      agent,
      stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill()))),
    };
  }

  for (const engine of engines) {
    test(`on ${engine}: the first turn pays the handshakes, the next ${TURNS - 1} reuse the connection`, async () => {
      const database = engine === 'postgres' ? await createTestDatabase('postgres') : undefined;
      const before = emu.connections;
      const { s, agent, stop } = await serve({ NODE_EXTRA_CA_CERTS: caFile, DATABASE_URL: database?.url });
      try {
        const timings: Array<{ connect: number; upstream_ttfb: number }> = [];
        for (let i = 0; i < TURNS; i++) {
          const { events, text } = await streamChat(s, agent.id, { message: `hello ${i}` });
          const done = events.at(-1);
          assert.equal(done?.chunk_type, 'done', JSON.stringify(done));
          assert.equal(text, `Echo: hello ${i}`);
          timings.push(done.timings);
        }
        assert.equal(emu.connections - before, 1, 'one TLS connection for every turn');
        const [first, ...later] = timings;
        // cold: TCP (1 round trip) + TLS 1.3 (1) + the warming request (1), while memory is read
        assert.ok(first!.connect >= 2 * RTT_MS, `first turn connect ${first!.connect} ms`);
        const connects = later.map((t) => t.connect).sort((a, b) => a - b);
        assert.ok(connects[Math.floor(connects.length / 2)]! < RTT_MS, `later turns pay no handshake: connect ${connects.join(', ')} ms`);
        // and each request still pays its own round trip to the model
        for (const t of later) assert.ok(t.upstream_ttfb >= RTT_MS, `upstream_ttfb ${t.upstream_ttfb} ms`);
      } finally {
        await stop();
        await database?.drop();
      }
    });
  }

  test('without the certificate trusted, the chat fails with an upstream error', async () => {
    const { s, agent, stop } = await serve({ NODE_EXTRA_CA_CERTS: undefined });
    try {
      const { events } = await streamChat(s, agent.id, { message: 'hello' });
      const last = events.at(-1);
      assert.equal(last?.chunk_type, 'error', JSON.stringify(last));
      assert.match(last.code, /^upstream_/);
    } finally {
      await stop();
    }
  });
});
