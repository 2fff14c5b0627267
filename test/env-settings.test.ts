// Settings read from the environment, through the real CLI (`agentmem serve` in a child
// process, so configFromEnv is what reads them): the platform's provider keys and base
// URLs (OPENAI_*, ZHIPU_*, ANTHROPIC_*), AGENTMEM_BODY_LIMIT, the rate limits (AGENTMEM_RATE_LIMIT,
// AGENTMEM_ORG_RATE_LIMIT, AGENTMEM_RATE_LIMIT_WINDOW_MS), and the secret key generated into
// the data dir when AGENTMEM_SECRET_KEY is unset: the same after a restart, so the agents'
// stored provider keys still open.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../src/emulator/server.ts';
import { apiClient, createOrg, createTestDatabase, engines, spawnServe, streamChat } from './harness.ts';

/** `agentmem serve` with `env` on a fresh data dir; stop() ends it and removes the dir. */
async function serve(env: Record<string, string | undefined>, dataDir = mkdtempSync(join(tmpdir(), 'agentmem-env-'))) {
  const key = 'am_env_' + randomBytes(12).toString('hex');
  const { child, url } = await spawnServe({ AGENTMEM_DATA_DIR: dataDir, AGENTMEM_BOOTSTRAP_KEY: key, ...env });
  return { child, url, key, dataDir, api: apiClient(url, key) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

describe('settings from the environment', () => {
  let emu: Emulator;
  let server: Awaited<ReturnType<typeof serve>>;
  const OPENAI_KEY = 'sk-platform-' + randomBytes(6).toString('hex');
  const ZHIPU_KEY = 'platformid.platformsecret';
  const ANTHROPIC_KEY = 'sk-ant-platform-' + randomBytes(6).toString('hex');
  before(async () => {
    emu = await startEmulator({ port: 0, profile: 'instant', zhipuKeys: [ZHIPU_KEY], anthropicKeys: [ANTHROPIC_KEY] });
    server = await serve({
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: `${emu.url}/~text=from%20the%20platform%20openai/v1`,
      ZHIPU_API_KEY: ZHIPU_KEY,
      ZHIPU_BASE_URL: `${emu.url}/~text=from%20the%20platform%20zhipu/api/paas/v4`,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_BASE_URL: `${emu.url}/~text=from%20the%20platform%20anthropic`,
      AGENTMEM_BODY_LIMIT: '4096',
    });
  });
  after(async () => {
    if (server) {
      await stop(server.child);
      rmSync(server.dataDir, { recursive: true, force: true });
    }
    await emu?.close();
  });

  /** Chats once with an agent of `llm` (no base URL, no key: the platform's) and returns its answer and the one upstream request. */
  async function chatOnPlatform(llm: object, message: string) {
    const agent = (await server.api('POST', '/api/v1/agents', { body: { name: 'platform', llm, memory: { extract: false } } })).body;
    assert.ok(agent.id, JSON.stringify(agent));
    const from = emu.requests.length;
    const r = await streamChat({ url: server.url, adminKey: server.key }, agent.id, { message });
    const asked = emu.requests.slice(from).filter((q) => q.path.endsWith('/chat/completions') || q.path.endsWith('/v1/messages'));
    assert.equal(asked.length, 1);
    return { agent, text: r.text, last: r.events.at(-1), asked: asked[0]! };
  }

  test('OPENAI_API_KEY and OPENAI_BASE_URL: an agent that names neither is served there with that key', async () => {
    const r = await chatOnPlatform({ provider: 'openai-compatible', model: 'gpt-4o-mini' }, 'hi openai');
    assert.equal(r.text, 'from the platform openai', JSON.stringify(r.last));
    assert.equal(r.asked.headers.authorization, `Bearer ${OPENAI_KEY}`);
    assert.ok(!JSON.stringify(r.agent).includes(OPENAI_KEY), 'the platform key is not shown on the agent');
  });

  test('ZHIPU_API_KEY and ZHIPU_BASE_URL: a Zhipu agent that names neither signs its JWT with that key', async () => {
    const r = await chatOnPlatform({ provider: 'zhipu', model: 'glm-4-flash', auth: 'jwt' }, 'hi zhipu');
    assert.equal(r.text, 'from the platform zhipu', JSON.stringify(r.last));
    assert.equal(r.asked.format, 'zhipu');
    assert.equal(r.asked.jwtValid, true, 'signed with ZHIPU_API_KEY');
  });

  test('ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL: an Anthropic agent that names neither is served there, the key in x-api-key', async () => {
    const r = await chatOnPlatform({ provider: 'anthropic', model: 'claude-sonnet-4-5' }, 'hi anthropic');
    assert.equal(r.text, 'from the platform anthropic', JSON.stringify(r.last));
    assert.equal(r.asked.format, 'anthropic');
    assert.equal(r.asked.headers['x-api-key'], ANTHROPIC_KEY);
    assert.ok(!JSON.stringify(r.agent).includes(ANTHROPIC_KEY), 'the platform key is not shown on the agent');
  });

  test('AGENTMEM_BODY_LIMIT: a body over it is 413 payload_too_large, one under it is read', async () => {
    const over = await server.api('POST', '/api/v1/agents', { body: { name: 'x'.repeat(5_000) } });
    assert.equal(over.status, 413);
    assert.equal(over.body.error.code, 'payload_too_large');
    // Under the limit the body is read and validated (the name's own length rule may refuse it, not as 413).
    const under = await server.api('POST', '/api/v1/agents', { body: { name: 'y'.repeat(3_000) } });
    assert.notEqual(under.status, 413, JSON.stringify(under.body));
  });
});

describe('rate limits from the environment', () => {
  let server: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    // One request back every 200 s per key, 120 s per organization: no refill during the test.
    server = await serve({ AGENTMEM_RATE_LIMIT: '3', AGENTMEM_ORG_RATE_LIMIT: '5', AGENTMEM_RATE_LIMIT_WINDOW_MS: '600000' });
  });
  after(async () => {
    if (server) {
      await stop(server.child);
      rmSync(server.dataDir, { recursive: true, force: true });
    }
  });

  test('AGENTMEM_RATE_LIMIT per key and AGENTMEM_ORG_RATE_LIMIT per organization, over AGENTMEM_RATE_LIMIT_WINDOW_MS', async () => {
    const org = await createOrg(server.api, 'env-limited'); // the bootstrap key: 1 of 3
    const member = (await server.api('POST', '/api/v1/api-keys', { key: org.key, body: { name: 'm', role: 'member' } })).body.key; // org: 1 of 5
    assert.ok(member);
    const get = (key: string) => server.api('GET', '/api/v1/agents', { key });
    assert.equal((await get(org.key)).status, 200); // org 2
    assert.equal((await get(org.key)).status, 200); // org 3; the org key: 3 of 3
    const perKey = await get(org.key);
    assert.equal(perKey.status, 429);
    assert.match(perKey.body.error.message, /Rate limit of 3 requests per 600 s for this API key/);
    const wait = Number(perKey.headers.get('retry-after'));
    assert.ok(wait > 140 && wait <= 200, `Retry-After ${wait}: about 600 s / 3`);
    assert.equal((await get(member)).status, 200); // org 4
    assert.equal((await get(member)).status, 200); // org 5
    const perOrg = await get(member);
    assert.equal(perOrg.status, 429);
    assert.match(perOrg.body.error.message, /Rate limit of 5 requests per 600 s for this organization/);
  });
});

for (const engine of engines) {
  describe(`the generated secret key across a restart on ${engine}`, () => {
    let emu: Emulator;
    let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
    before(async () => {
      emu = await startEmulator({ port: 0, profile: 'instant' });
      // PGlite: the embedded store on disk in the data dir, as `npm start` runs it.
      if (engine === 'postgres') database = await createTestDatabase('postgres');
    });
    after(async () => {
      await emu?.close();
      await database?.drop();
    });

    test('no AGENTMEM_SECRET_KEY: secret.key is written once (0600), read again after a restart, and the stored provider key still opens', async () => {
      const env = { DATABASE_URL: database?.url, AGENTMEM_SECRET_KEY: undefined };
      const first = await serve(env);
      let second: Awaited<ReturnType<typeof serve>> | undefined;
      const providerKey = 'sk-tenant-' + randomBytes(6).toString('hex');
      try {
        const keyFile = join(first.dataDir, 'secret.key');
        const agent = (
          await first.api('POST', '/api/v1/agents', {
            body: {
              name: 'sealed',
              llm: { provider: 'openai-compatible', model: 'm', base_url: `${emu.url}/~text=opened/v1`, api_key: providerKey },
              memory: { extract: false },
            },
          })
        ).body;
        assert.ok(agent.id, JSON.stringify(agent));
        const generated = readFileSync(keyFile, 'utf8');
        assert.equal(Buffer.from(generated.trim(), 'base64').length, 32, 'a 256-bit key');
        assert.equal(statSync(keyFile).mode & 0o777, 0o600);
        await stop(first.child);

        second = await serve({ ...env, AGENTMEM_BOOTSTRAP_KEY: first.key }, first.dataDir);
        assert.equal(readFileSync(keyFile, 'utf8'), generated, 'the restart read the key, did not make another');
        const from = emu.requests.length;
        const r = await streamChat({ url: second.url, adminKey: first.key }, agent.id, { message: 'after the restart' });
        assert.equal(r.text, 'opened', JSON.stringify(r.events.at(-1)));
        const asked = emu.requests.slice(from).filter((q) => q.path.endsWith('/chat/completions'));
        assert.equal(asked[0]?.headers.authorization, `Bearer ${providerKey}`, 'the stored key decrypted with the same secret key');
      } finally {
        await stop(first.child);
        if (second) await stop(second.child);
        rmSync(first.dataDir, { recursive: true, force: true });
      }
    });
  });
}
