// `agentmem serve --workers N` (node:cluster): N whole instances on one port, over PostgreSQL
// and Redis. What a user checks: one "listening" line; turns of one session spread over the
// workers (each answer row names the instance that wrote it) with every prompt holding the
// whole stored history; a memory written through one worker found through the other; SIGTERM
// drains and ends every process; and the embedded engine refuses it plainly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import pg from 'pg';
import { startEmulator } from '../src/emulator/server.ts';
import { spawnCli } from '../src/bench/spawn-cli.ts';
import { chatOf, createTestDatabase, engines, needsRedis, testRedis, type SentChat } from './harness.ts';

const BIN = new URL('../bin/agentmem.js', import.meta.url).pathname;

/** One request on a connection of its own (so the cluster hands each to the next worker). */
function call(url: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method, agent: false, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', connection: 'close' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('serve --workers', () => {
  test('the embedded engine refuses more than one worker, with a one-line reason', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--workers', '2'], {
      env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 1);
    assert.match(err, /--workers above 1 needs DATABASE_URL=postgres/);
  });

  test(
    'two workers on PostgreSQL + Redis share one port, one session, one store',
    { skip: (!engines.includes('postgres') && 'needs PostgreSQL') || needsRedis },
    async () => {
      const db = await createTestDatabase('postgres');
      const emu = await startEmulator({ port: 0, profile: 'instant' });
      const key = 'am_workers_' + randomBytes(16).toString('hex');
      // resolves only on the primary's one line for both workers
      const { child, url } = await spawnCli(['serve'], {
        env: { ...process.env, DATABASE_URL: db.url, REDIS_URL: testRedis, AGENTMEM_BOOTSTRAP_KEY: key, AGENTMEM_WORKERS: '2', PORT: '0', LOG_LEVEL: 'warn' },
        listening: /agentmem listening on (\S+) \(store: [^;]+; 2 workers\)/,
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      try {
        const agent = JSON.parse(
          (
            await call(url, key, 'POST', '/api/v1/agents', {
              name: 'workers',
              llm: { provider: 'openai-compatible', model: 'gpt-4o', base_url: `${emu.url}/v1`, api_key: 'sk-emu', max_retries: 0 },
              memory: { extract: false, last_messages: 50 },
            })
          ).text,
        );
        assert.ok(agent.id, JSON.stringify(agent));
        let session: string | undefined;
        for (let i = 0; i < 8; i++) {
          const res = await call(url, key, 'POST', `/api/v1/agents/${agent.id}/chat`, {
            message: `turn number ${i} of eight`,
            user_id: 'u1',
            session_id: session,
          });
          assert.equal(res.status, 200, res.text);
          session = JSON.parse(res.text).session_id;
          const sent = emu.requests.findLast((r) => JSON.stringify(chatOf(r)?.messages ?? '').includes(`turn number ${i} of eight`));
          const prompt = JSON.stringify((sent?.body as SentChat | undefined)?.messages);
          for (let j = 0; j <= i; j++) assert.ok(prompt.includes(`turn number ${j} of eight`), `turn ${i}'s prompt holds turn ${j}`);
        }
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        const owners = await client.query(`select count(distinct owner)::int as n from messages where session_id = $1 and role = 'assistant'`, [session]);
        await client.end();
        assert.equal(owners.rows[0].n, 2, 'both workers answered turns of the session');

        // written through one worker, found through the next ones
        const added = await call(url, key, 'POST', '/api/v1/memories', {
          content: 'The user keeps a tortoise named Quentin',
          agent_id: agent.id,
          user_id: 'u1',
        });
        assert.equal(added.status, 201, added.text);
        for (let i = 0; i < 4; i++) {
          const found = await call(url, key, 'POST', '/api/v1/memories/search', { query: 'tortoise Quentin', agent_id: agent.id, user_id: 'u1' });
          assert.match(found.text, /Quentin/, `search ${i}`);
        }
        assert.doesNotMatch(out, /listening on/, 'one listening line, the primary’s');
      } finally {
        const workers = (await import('node:child_process'))
          .execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { encoding: 'utf8' })
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
        child.kill('SIGTERM');
        const code = await new Promise((r) => child.once('exit', (c) => r(c)));
        assert.equal(code, 0, out);
        for (const pid of workers) assert.throws(() => process.kill(pid, 0), 'worker ended with the primary');
        await emu.close();
        await db.drop();
      }
    },
  );
});
