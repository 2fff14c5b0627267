// At start, agentmem opens keep-alive connections to its agents' upstream origins, so
// the first chat after a restart does not pay the connection setup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEmulator } from '../src/llm/emulator/server.ts';
import { createTestDatabase, engines, startServer } from './harness.ts';

test('a restarted server has its agents’ upstream connections open before the first chat', { skip: !engines.includes('postgres') && 'needs PostgreSQL' }, async () => {
  const [database, emu, spare] = await Promise.all([createTestDatabase('postgres'), startEmulator({ port: 0 }), startEmulator({ port: 0 })]);
  try {
    const first = await startServer('postgres', { databaseUrl: database.url });
    await first.api('POST', '/api/v1/agents', {
      body: { name: 'warm', llm: { provider: 'openai-compatible', model: 'm', base_url: `${emu.url}/v1`, api_key: 'k', fallback: { model: 'f', base_url: `${spare.url}/v1` } } },
    });
    await first.api('POST', '/api/v1/agents', { body: { name: 'local' } });
    await first.close();

    const second = await startServer('postgres', { databaseUrl: database.url });
    try {
      let open = 0;
      for (let i = 0; i < 500 && open < 2; i++) {
        const text = await (await fetch(`${second.url}/metrics`)).text();
        open = Number(/agentmem_upstream_connections\{state="open"\} (\d+)/.exec(text)![1]);
        if (open < 2) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(open, 2, `one connection to the primary origin and one to the fallback origin; saw ${open}`);
      assert.equal(emu.requests.length + spare.requests.length, 0, 'no chat was sent: the connections were opened ahead');
    } finally {
      await second.close();
    }
  } finally {
    await Promise.all([database.drop(), emu.close(), spare.close()]);
  }
});
