// At start, agentmem opens keep-alive connections to its agents' upstream origins, so
// the first chat after a restart does not pay the connection setup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEmulator } from '../src/emulator/server.ts';
import { createTestDatabase, engines, startServer } from './harness.ts';

test(
  'a restarted server has its agents’ upstream connections open before the first chat',
  { skip: !engines.includes('postgres') && 'needs PostgreSQL' },
  async () => {
    const [database, emu, spare] = await Promise.all([createTestDatabase('postgres'), startEmulator({ port: 0 }), startEmulator({ port: 0 })]);
    try {
      const first = await startServer('postgres', { databaseUrl: database.url });
      await first.api('POST', '/api/v1/agents', {
        body: {
          name: 'warm',
          llm: { provider: 'openai-compatible', model: 'm', base_url: `${emu.url}/v1`, api_key: 'k', fallback: { model: 'f', base_url: `${spare.url}/v1` } },
        },
      });
      await first.api('POST', '/api/v1/agents', { body: { name: 'local' } });
      await first.close();

      const accepted = [emu.connections, spare.connections];
      const second = await startServer('postgres', { databaseUrl: database.url });
      try {
        // The emulators count the TCP connections they accept: each origin gets one at start.
        const opened = () => [emu.connections - accepted[0]!, spare.connections - accepted[1]!];
        for (let i = 0; i < 500 && opened().some((n) => n < 1); i++) await new Promise((r) => setTimeout(r, 20));
        const gauge = /agentmem_upstream_connections\{state="open"\} (\d+)/.exec(
          await (await fetch(`${second.url}/metrics`, { headers: { authorization: `Bearer ${second.adminKey}` } })).text(),
        )![1];
        assert.deepEqual(
          opened().map((n) => Math.min(n, 1)),
          [1, 1],
          `a connection to the primary origin and one to the fallback origin (open now: ${gauge})`,
        );
        assert.equal(emu.requests.length + spare.requests.length, 0, 'no chat was sent: the connections were opened ahead');
      } finally {
        await second.close();
      }
    } finally {
      await Promise.all([database.drop(), emu.close(), spare.close()]);
    }
  },
);
