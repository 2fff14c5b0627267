// `agentmem export` / `import` (one organization as JSON Lines) and `backup` / `restore`
// (the whole embedded store, PGlite's dumpDataDir), run as a user runs them: the CLI in a
// child process against the store, then a real server on what it wrote, over HTTP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgentmem, type Agentmem } from '../src/app.ts';
import { configFromEnv } from '../src/config.ts';
import type { Engine } from '../src/store/db.ts';
import { apiClient, createOrg, createTestDatabase, engines, streamChat, type Api } from './harness.ts';

const SECRET = 'org-data-test-secret';

function agentmem(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }> {
  const full: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: undefined, REDIS_URL: undefined, AGENTMEM_SECRET_KEY: SECRET, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  return new Promise((resolve) =>
    execFile(process.execPath, ['bin/agentmem.js', ...args], { env: full, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** A store as the CLI names it: DATABASE_URL (PostgreSQL) or AGENTMEM_DATA_DIR (embedded). */
interface Store {
  env: Record<string, string | undefined>;
  start(key: string): Promise<{ app: Agentmem; api: (key: string) => Api }>;
  drop(): Promise<void>;
}

async function newStore(engine: Engine): Promise<Store> {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-orgdata-'));
  const database = engine === 'postgres' ? await createTestDatabase('postgres') : undefined;
  return {
    env: { AGENTMEM_DATA_DIR: dataDir, DATABASE_URL: database?.url },
    async start(bootstrapKey) {
      const app = await startAgentmem({ ...configFromEnv({}), port: 0, dataDir, databaseUrl: database?.url, bootstrapKey, secretKey: SECRET, logLevel: 'silent' });
      return { app, api: (key) => apiClient(app.url, key) };
    },
    async drop() {
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const lines = (file: string) =>
  readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

for (const engine of engines) {
  describe(`export / import of an organization on ${engine}`, () => {
    const work = mkdtempSync(join(tmpdir(), 'agentmem-orgdata-files-'));
    const admin = 'am_test_orgdata_admin_key_0123456789';
    let source: Store;
    let target: Store;
    let org: { id: string; key: string };
    let otherOrg: { id: string; key: string };
    let ids: { agent: string; talker: string; memory: string };
    let before_: { agents: any[]; sessions: any[]; messages: any[]; memories: any[]; history: any[]; search: any[] };
    before(async () => {
      [source, target] = await Promise.all([newStore(engine), newStore(engine)]);
      const { app, api } = await source.start(admin);
      try {
        const root = api(admin);
        org = await createOrg(root, `exported-${engine}`);
        otherOrg = await createOrg(root, `not-exported-${engine}`);
        const a = api(org.key);
        const agent = (
          await a('POST', '/api/v1/agents', {
            body: { name: 'exported', system_prompt: 'be brief', memory: { extract: false }, llm: { provider: 'openai-compatible', model: 'm', base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-never-exported' } },
          })
        ).body;
        const talker = (await a('POST', '/api/v1/agents', { body: { name: 'talker', memory: { extract: false } } })).body;
        assert.equal((await a('POST', '/api/v1/users', { body: { id: 'ann', name: 'Ann' } })).status, 201);
        const turn = await streamChat({ url: app.url, adminKey: org.key }, talker.id, { message: 'Hello there, 你好 😀', user_id: 'ann' });
        assert.equal(turn.events.at(-1).chunk_type, 'done');
        const m1 = (await a('POST', '/api/v1/memories', { body: { agent_id: talker.id, user_id: 'ann', content: 'Ann keeps bees in Lisbon' } })).body;
        await a('POST', '/api/v1/memories', { body: { agent_id: talker.id, user_id: 'ann', content: 'Ann plays the cello' } });
        assert.equal((await a('PATCH', `/api/v1/memories/${m1.id}`, { body: { content: 'Ann keeps bees in Porto' } })).status, 200);
        await api(otherOrg.key)('POST', '/api/v1/agents', { body: { name: 'someone else' } });
        ids = { agent: agent.id, talker: talker.id, memory: m1.id };
        before_ = await snapshot(a);
        assert.equal(before_.messages.length, 2);
        assert.equal(before_.history.length, 2);
      } finally {
        await app.close();
      }
    });
    after(async () => {
      await source?.drop();
      await target?.drop();
      rmSync(work, { recursive: true, force: true });
    });

    /** What a user of the org sees through the API. */
    async function snapshot(a: Api) {
      const { agent: agentId, talker: talkerId, memory: memoryId } = ids;
      const agents = (await a('GET', '/api/v1/agents')).body.data;
      const sessions = (await a('GET', `/api/v1/agents/${talkerId}/sessions`)).body.data;
      const messages = (await a('GET', `/api/v1/sessions/${sessions[0].id}/messages`)).body.data;
      const memories = (await a('GET', `/api/v1/memories?user_id=ann`)).body.data;
      const history = (await a('GET', `/api/v1/memories/${memoryId}/history`)).body.data;
      const search = (await a('POST', '/api/v1/memories/search', { body: { query: 'bees', agent_id: talkerId, user_id: 'ann' } })).body.results;
      assert.ok(agents.some((x: any) => x.id === agentId));
      return { agents, sessions, messages, memories, history, search };
    }

    test('export writes the org (not another org, no secret, no API key); import into an empty store serves the same data', async () => {
      const file = join(work, 'org.jsonl');
      const exported = await agentmem(['export', '--org', org.id, '-o', file], source.env);
      assert.equal(exported.code, 0, exported.stderr);
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /sk-never-exported/, 'no secret');
      assert.doesNotMatch(text, new RegExp(otherOrg.id), 'nothing of another org');
      assert.doesNotMatch(text, /key_hash/, 'no API key');
      const parsed = lines(file);
      assert.equal(parsed[0].format, 'agentmem-org/1');
      const tables = new Set(parsed.slice(1).map((l) => l.table));
      for (const t of ['organizations', 'users', 'agents', 'sessions', 'messages', 'memories', 'memory_history']) assert.ok(tables.has(t), `has ${t}`);

      const imported = await agentmem(['import', file, '--admin-key'], target.env);
      assert.equal(imported.code, 0, imported.stderr);
      const key = imported.stdout.trim();
      assert.match(key, /^am_/);
      const { app, api } = await target.start(admin);
      try {
        const a = api(key);
        const after_ = await snapshot(a);
        const strip = (agents: any[]) => agents.map(({ secrets, ...rest }) => rest);
        assert.deepEqual(strip(after_.agents), strip(before_.agents), 'the same agents');
        assert.ok(after_.agents.every((x: any) => !x.secrets?.length), 'agents come without secrets');
        assert.deepEqual(after_.sessions, before_.sessions);
        assert.deepEqual(after_.messages, before_.messages, 'the same messages, in order');
        assert.deepEqual(after_.memories, before_.memories);
        assert.deepEqual(after_.history, before_.history);
        assert.deepEqual(after_.search.map((r: any) => [r.id, r.content]), before_.search.map((r: any) => [r.id, r.content]), 'vectors came along: the same search');
        assert.equal((await api(admin)('GET', `/api/v1/organizations/${otherOrg.id}`)).status, 404, 'the other org is not there');
      } finally {
        await app.close();
      }

      // Again: every row is already there, nothing doubles.
      const again = await agentmem(['import', file], target.env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /imported organization [0-9a-f-]+: organizations 0, users 0, agents 0, sessions 0, messages 0, memories 0, memory_history 0/);
      // And the target exports the same rows.
      const roundTrip = join(work, 'again.jsonl');
      assert.equal((await agentmem(['export', '--org', org.id, '-o', roundTrip], target.env)).code, 0);
      assert.deepEqual(lines(roundTrip).slice(1), parsed.slice(1));
    });

    test('a bad file is refused whole: nothing is imported', async () => {
      const file = join(work, 'bad.jsonl');
      const good = readFileSync(join(work, 'org.jsonl'), 'utf8').split('\n');
      assert.match(good[1]!, /"table":"organizations"/);
      // The organization's row goes in, then a user row the database refuses (no id).
      writeFileSync(file, [good[0], good[1], JSON.stringify({ table: 'users', row: { org_id: org.id, id: null } })].join('\n'));
      const fresh = await newStore(engine);
      try {
        const r = await agentmem(['import', file], fresh.env);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /null value in column "id"/);
        const out = await agentmem(['export', '--org', org.id], fresh.env);
        assert.notEqual(out.code, 0);
        assert.match(out.stderr, /No organization/, 'the organization line before it was rolled back');
      } finally {
        await fresh.drop();
      }
    });

    if (engine === 'pglite') {
      test('backup and restore of the embedded store (PGlite dumpDataDir): the restored store serves the same data', async () => {
        const file = join(work, 'store.tar.gz');
        const backup = await agentmem(['backup', '-o', file], source.env);
        assert.equal(backup.code, 0, backup.stderr);
        const fresh = await newStore('pglite');
        try {
          const restored = await agentmem(['restore', file], fresh.env);
          assert.equal(restored.code, 0, restored.stderr);
          assert.notEqual((await agentmem(['restore', file], fresh.env)).code, 0, 'never over an existing store');
          const { app, api } = await fresh.start(admin);
          try {
            const a = api(org.key); // everything came back, API keys and secrets included
            const after_ = await snapshot(a);
            assert.deepEqual(after_, before_);
          } finally {
            await app.close();
          }
        } finally {
          await fresh.drop();
        }
      });
    } else {
      test('backup is for the embedded store: with DATABASE_URL it points to pg_dump', async () => {
        const r = await agentmem(['backup', '-o', join(work, 'x.tar.gz')], source.env);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /pg_dump/);
      });
    }
  });
}
