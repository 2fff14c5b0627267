// Storage, tenancy, auth and the agents/sessions API, over HTTP, on both engines.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createOrg, engines, startServer, type TestServer } from './harness.ts';

for (const engine of engines) {
  describe(`foundation on ${engine}`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(engine, { bodyLimit: 64 * 1024 });
    });
    after(() => s?.close());

    test('health answers without a key and names the engine', async () => {
      const res = await s.api('GET', '/health', { key: null });
      assert.equal(res.status, 200);
      assert.equal(res.body.engine, engine);
    });

    test('the API needs a valid key: 401 JSON otherwise', async () => {
      for (const key of [null, 'am_not_a_key']) {
        const res = await s.api('GET', '/api/v1/agents', { key });
        assert.equal(res.status, 401);
        assert.equal(res.body.error.code, 'unauthorized');
        assert.equal(typeof res.body.error.message, 'string');
      }
      const res = await s.api('GET', '/api/v1/agents', { headers: { authorization: 'Basic abc' }, key: null });
      assert.equal(res.status, 401);
    });

    test('agent CRUD: defaults filled in, deep-merged updates, delete', async () => {
      const created = await s.api('POST', '/api/v1/agents', { body: { name: 'helper', system_prompt: 'Be brief.' } });
      assert.equal(created.status, 201);
      const agent = created.body;
      assert.match(agent.id, /^[0-9a-f-]{36}$/);
      assert.equal(agent.llm.provider, 'simulated');
      assert.equal(agent.memory.last_messages, 10);
      assert.equal(agent.memory.recall_budget_ms, 150);
      assert.equal(agent.streaming.text_buffer_size, 1);
      assert.deepEqual(agent.tools, []);
      assert.equal(agent.version, 1);

      const got = await s.api('GET', `/api/v1/agents/${agent.id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.system_prompt, 'Be brief.');

      const patched = await s.api('PATCH', `/api/v1/agents/${agent.id}`, {
        body: { memory: { last_messages: 4 }, streaming: { text_buffer_size: 7 } },
      });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.memory.last_messages, 4);
      assert.equal(patched.body.memory.recall_budget_ms, 150, 'sibling fields survive a partial update');
      assert.equal(patched.body.streaming.text_buffer_size, 7);
      assert.equal(patched.body.system_prompt, 'Be brief.');
      assert.equal(patched.body.version, 2);

      const bad = await s.api('PATCH', `/api/v1/agents/${agent.id}`, { body: { streaming: { text_buffer_size: 0 } } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'validation_error');
      assert.match(bad.body.error.message, /text_buffer_size/);
      assert.equal((await s.api('GET', `/api/v1/agents/${agent.id}`)).body.streaming.text_buffer_size, 7, 'rejected patch changed nothing');

      const list = await s.api('GET', '/api/v1/agents');
      assert.ok(list.body.data.some((a: { id: string }) => a.id === agent.id));

      assert.equal((await s.api('DELETE', `/api/v1/agents/${agent.id}`)).status, 204);
      assert.equal((await s.api('GET', `/api/v1/agents/${agent.id}`)).status, 404);
      assert.equal((await s.api('DELETE', `/api/v1/agents/${agent.id}`)).status, 404);
    });

    test('list endpoints page with limit/offset and has_more', async () => {
      const org = await createOrg(s.api, 'pager');
      for (let i = 0; i < 3; i++) await s.api('POST', '/api/v1/agents', { key: org.key, body: { name: `p${i}` } });
      const first = await s.api('GET', '/api/v1/agents?limit=2', { key: org.key });
      assert.deepEqual(
        first.body.data.map((a: { name: string }) => a.name),
        ['p0', 'p1'],
      );
      assert.equal(first.body.has_more, true);
      const rest = await s.api('GET', '/api/v1/agents?limit=2&offset=2', { key: org.key });
      assert.deepEqual(
        rest.body.data.map((a: { name: string }) => a.name),
        ['p2'],
      );
      assert.equal(rest.body.has_more, false);
      assert.equal((await s.api('GET', '/api/v1/agents?limit=0', { key: org.key })).status, 400);
    });

    test('provider secrets are sealed at rest and never returned', async () => {
      const secret = 'sk-very-secret-value-123';
      const created = await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'with-key',
          llm: { provider: 'openai-compatible', model: 'gpt-4o-mini', base_url: 'https://api.example.com/v1', api_key: secret },
        },
      });
      assert.equal(created.status, 201);
      assert.deepEqual(created.body.secrets, ['llm.api_key']);
      assert.equal(created.body.llm.api_key, undefined);
      const id = created.body.id;
      const responses = [
        created,
        await s.api('GET', `/api/v1/agents/${id}`),
        await s.api('GET', '/api/v1/agents'),
        await s.api('PATCH', `/api/v1/agents/${id}`, { body: { llm: { temperature: 0.5 } } }),
      ];
      for (const res of responses) assert.ok(!JSON.stringify(res.body).includes(secret), 'secret never echoed');
      assert.deepEqual(responses[3]!.body.secrets, ['llm.api_key'], 'a patch without the key keeps it');

      const [row] = await s.app.db.query<{ config: unknown; secrets: string }>('select config, secrets from agents where id = $1', [id]);
      assert.ok(!JSON.stringify(row!.config).includes(secret));
      assert.ok(row!.secrets.startsWith('v1:') && !row!.secrets.includes(secret), 'stored encrypted');

      const cleared = await s.api('PATCH', `/api/v1/agents/${id}`, { body: { llm: { api_key: null } } });
      assert.deepEqual(cleared.body.secrets, []);
    });

    test('another organization sees nothing of this one: 404, never a leak', async () => {
      const mine = (await s.api('POST', '/api/v1/agents', { body: { name: 'private' } })).body;
      const session = (await s.api('POST', `/api/v1/agents/${mine.id}/sessions`, { body: { user_id: 'alice' } })).body;
      const other = await createOrg(s.api, 'other');

      const asOther = (method: string, path: string, body?: unknown) => s.api(method, path, { key: other.key, body });
      assert.equal((await asOther('GET', `/api/v1/agents/${mine.id}`)).status, 404);
      assert.equal((await asOther('PATCH', `/api/v1/agents/${mine.id}`, { name: 'stolen' })).status, 404);
      assert.equal((await asOther('DELETE', `/api/v1/agents/${mine.id}`)).status, 404);
      assert.equal((await asOther('GET', `/api/v1/agents/${mine.id}/sessions`)).status, 404);
      assert.equal((await asOther('POST', `/api/v1/agents/${mine.id}/sessions`, {})).status, 404);
      assert.equal((await asOther('GET', `/api/v1/sessions/${session.id}`)).status, 404);
      assert.equal((await asOther('GET', `/api/v1/sessions/${session.id}/messages`)).status, 404);
      assert.equal((await asOther('DELETE', `/api/v1/sessions/${session.id}`)).status, 404);
      assert.deepEqual((await asOther('GET', '/api/v1/agents')).body.data, []);
      const orgs = await asOther('GET', '/api/v1/organizations');
      assert.deepEqual(
        orgs.body.data.map((o: { id: string }) => o.id),
        [other.id],
      );
      assert.equal((await asOther('POST', '/api/v1/organizations', { name: 'x' })).status, 403);

      // Untouched, as its owner sees it.
      const still = await s.api('GET', `/api/v1/agents/${mine.id}`);
      assert.equal(still.body.name, 'private');
      assert.equal((await s.api('GET', `/api/v1/sessions/${session.id}`)).status, 200);
    });

    test('API keys: shown once, stored hashed, roles enforced, revocation immediate', async () => {
      const org = await createOrg(s.api, 'keys');
      const created = await s.api('POST', '/api/v1/api-keys', { key: org.key, body: { name: 'ci', role: 'member' } });
      assert.equal(created.status, 201);
      const memberKey: string = created.body.key;
      assert.match(memberKey, /^am_/);

      const list = await s.api('GET', '/api/v1/api-keys', { key: org.key });
      assert.equal(list.body.data.length, 2);
      assert.ok(!JSON.stringify(list.body).includes(memberKey), 'listing never shows a key');
      const [row] = await s.app.db.query<{ key_hash: string }>('select key_hash from api_keys where id = $1', [created.body.id]);
      assert.notEqual(row!.key_hash, memberKey);
      assert.ok(!row!.key_hash.includes(memberKey.slice(3)));

      assert.equal((await s.api('GET', '/api/v1/agents', { key: memberKey })).status, 200);
      assert.equal((await s.api('POST', '/api/v1/api-keys', { key: memberKey, body: { name: 'x' } })).status, 403);

      assert.equal((await s.api('DELETE', `/api/v1/api-keys/${created.body.id}`, { key: org.key })).status, 204);
      assert.equal((await s.api('GET', '/api/v1/agents', { key: memberKey })).status, 401, 'revoked key is refused at once');
      // One org cannot revoke another's keys.
      const other = await createOrg(s.api, 'keys-other');
      const otherKeys = await s.api('GET', '/api/v1/api-keys', { key: other.key });
      assert.equal((await s.api('DELETE', `/api/v1/api-keys/${otherKeys.body.data[0].id}`, { key: org.key })).status, 404);
    });

    test('users: create, read, update, delete, scoped by org', async () => {
      const org = await createOrg(s.api, 'users');
      const created = await s.api('POST', '/api/v1/users', { key: org.key, body: { id: 'alice', name: 'Alice', metadata: { tier: 'pro' } } });
      assert.equal(created.status, 201);
      assert.equal((await s.api('POST', '/api/v1/users', { key: org.key, body: { id: 'alice' } })).status, 409);
      assert.equal((await s.api('GET', '/api/v1/users/alice', { key: org.key })).body.metadata.tier, 'pro');
      assert.equal((await s.api('GET', '/api/v1/users/alice')).status, 404, 'other org');
      const patched = await s.api('PATCH', '/api/v1/users/alice', { key: org.key, body: { name: 'Alice B.' } });
      assert.equal(patched.body.name, 'Alice B.');
      assert.equal(patched.body.metadata.tier, 'pro');
      assert.equal((await s.api('DELETE', '/api/v1/users/alice', { key: org.key })).status, 200);
      assert.equal((await s.api('GET', '/api/v1/users/alice', { key: org.key })).status, 404);
    });

    test('sessions and messages read endpoints', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'sess' } })).body;
      const a = (await s.api('POST', `/api/v1/agents/${agent.id}/sessions`, { body: { user_id: 'u1', title: 't' } })).body;
      await s.api('POST', `/api/v1/agents/${agent.id}/sessions`, { body: { user_id: 'u2' } });
      const all = await s.api('GET', `/api/v1/agents/${agent.id}/sessions`);
      assert.equal(all.body.data.length, 2);
      const u1 = await s.api('GET', `/api/v1/agents/${agent.id}/sessions?user_id=u1`);
      assert.deepEqual(
        u1.body.data.map((x: { id: string }) => x.id),
        [a.id],
      );
      const msgs = await s.api('GET', `/api/v1/sessions/${a.id}/messages`);
      assert.deepEqual(msgs.body, { data: [], has_more: false });
      assert.equal((await s.api('DELETE', `/api/v1/sessions/${a.id}`)).status, 204);
      assert.equal((await s.api('GET', `/api/v1/sessions/${a.id}`)).status, 404);
    });

    test('bad input is a 4xx JSON error, never a 5xx', async () => {
      const cases: Array<[string, string, { raw?: string; body?: unknown; headers?: Record<string, string> }, number, string]> = [
        ['POST', '/api/v1/agents', { raw: '{"name":', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
        ['POST', '/api/v1/agents', { raw: '', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
        ['POST', '/api/v1/agents', { body: { name: 'x', unknown_field: 1 } }, 400, 'validation_error'],
        ['POST', '/api/v1/agents', { body: { name: 42 } }, 400, 'validation_error'],
        ['POST', '/api/v1/agents', { body: [] }, 400, 'validation_error'],
        ['POST', '/api/v1/agents', { body: { name: 'x', llm: { provider: 'nope' } } }, 400, 'validation_error'],
        ['POST', '/api/v1/agents', { raw: 'name=x', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
        ['POST', '/api/v1/agents', { body: { name: 'x'.repeat(70 * 1024) } }, 413, 'payload_too_large'],
        ['GET', '/api/v1/agents/not-a-uuid', {}, 404, 'not_found'],
        ['GET', '/api/v1/agents/00000000-0000-4000-8000-000000000000', {}, 404, 'not_found'],
        ['GET', '/api/v1/agents?limit=abc', {}, 400, 'validation_error'],
        ['GET', '/api/v1/nothing-here', {}, 404, 'not_found'],
        ['GET', '/nothing-here', {}, 404, 'not_found'],
      ];
      for (const [method, path, opts, status, code] of cases) {
        const res = await s.api(method, path, opts);
        assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(opts).slice(0, 80)} → ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, code);
        assert.equal(typeof res.body.error.message, 'string');
      }
    });

    test('OpenAPI document at /docs describes the API', async () => {
      const res = await s.api('GET', '/docs/json', { key: null });
      assert.equal(res.status, 200);
      assert.ok(res.body.paths['/api/v1/agents']);
      assert.ok(res.body.paths['/api/v1/agents/{id}']);
      assert.equal((await s.api('GET', '/docs', { key: null })).status < 400, true);
    });
  });
}

describe('bootstrap', () => {
  test('the first start creates one admin key and prints it once; a restart keeps the data', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { startAgentmem } = await import('../src/app.ts');
    const { configFromEnv } = await import('../src/config.ts');
    const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-boot-'));
    const config = { ...configFromEnv({}), port: 0, dataDir, logLevel: 'silent' };
    try {
      const first = await startAgentmem(config);
      const key = first.generatedAdminKey!;
      assert.match(key, /^am_/);
      const created = await fetch(`${first.url}/api/v1/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'kept' }),
      });
      assert.equal(created.status, 201);
      await first.close();

      const second = await startAgentmem(config);
      assert.equal(second.generatedAdminKey, undefined, 'printed only once');
      const list = (await (await fetch(`${second.url}/api/v1/agents`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
        data: Array<{ name: string }>;
      };
      assert.deepEqual(
        list.data.map((a) => a.name),
        ['kept'],
      );
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
