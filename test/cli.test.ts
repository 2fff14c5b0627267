// The API subcommands as a user runs them: `node bin/agentmem.js …` in a child process
// against a real server in this process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startServer, type TestServer } from './harness.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function agentmem(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['bin/agentmem.js', ...args],
      { env: { ...process.env, NO_COLOR: '1', AGENTMEM_API_KEY: '', ...opts.env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(opts.input ?? '');
  });
}

describe('agentmem CLI', () => {
  let s: TestServer;
  let conn: string[];
  before(async () => {
    s = await startServer('pglite');
    conn = ['--url', s.url, '--key', s.adminKey];
  });
  after(async () => {
    await s?.close();
  });

  test('chat -m: the answer on stdout, first-token time and server timings on stderr', async () => {
    const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'cli', llm: { provider: 'simulated', simulated: { tokens_per_s: 200 } } } })).body;
    const r = await agentmem(['chat', agent.id, '-m', 'hi there', '--user', 'ada', ...conn]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /You said: "hi there"\./);
    assert.match(r.stderr, /first token \d+ ms \(client\)/);
    assert.match(r.stderr, /server: .*upstream_ttfb [\d.]+ .*total [\d.]+ ms/);
    const session = /session ([0-9a-f-]{36})/.exec(r.stderr)![1]!;
    const again = await agentmem(['chat', agent.id, '-m', 'and again', '--session', session, ...conn]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /\(turn 2 of this conversation\)/, '--session continues it');
  });

  test('chat reads one message from piped stdin; the key may come from AGENTMEM_API_KEY', async () => {
    const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'piped' } })).body;
    const r = await agentmem(['chat', agent.id, '--url', s.url], { input: 'from a pipe\n', env: { AGENTMEM_API_KEY: s.adminKey } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /You said: "from a pipe"\./);
  });

  test('chat: a connection cut mid-answer is resumed with Last-Event-ID; the answer is printed once, whole', async () => {
    const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'cut', llm: { provider: 'simulated', simulated: { tokens_per_s: 40 } } } })).body;
    // A proxy that cuts the client off after 3 content frames of the first stream but
    // keeps reading the server's side, so the turn runs on (as if only the client's network failed).
    let cut = false;
    const proxy: Server = createServer((req, res) => {
      const target = new URL(s.url);
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode!, upRes.headers);
        const cutThis = !cut && req.method === 'POST' && req.url!.endsWith('/chat/stream');
        if (cutThis) cut = true;
        let seen = '';
        upRes.on('data', (chunk: Buffer) => {
          if (res.destroyed) return;
          res.write(chunk);
          seen += chunk.toString();
          if (cutThis && seen.split('"chunk_type":"content"').length > 3) res.destroy();
        });
        upRes.on('end', () => res.end());
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const message = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda';
      const r = await agentmem(['chat', agent.id, '-m', message, '--url', url, '--key', s.adminKey]);
      assert.ok(cut, 'the first stream was cut');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `You said: "${message}".\n`);
      assert.match(r.stderr, /first token \d+ ms/);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  test('agents create, list and delete', async () => {
    const name = `cli-agent-${Date.now()}`;
    const created = await agentmem(['agents', 'create', '--name', name, '--provider', 'simulated', '--model', 'sim-x', ...conn]);
    assert.equal(created.code, 0, created.stderr);
    const id = /created ([0-9a-f-]{36})/.exec(created.stdout)![1]!;
    const list = await agentmem(['agents', 'list', ...conn]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+NAME\s+MODEL\s+CREATED/);
    assert.match(list.stdout, new RegExp(`${id}\\s+${name}\\s+simulated/sim-x`));
    const deleted = await agentmem(['agents', 'delete', id, ...conn]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.doesNotMatch((await agentmem(['agents', 'list', ...conn])).stdout, new RegExp(id));
  });

  test('memories search prints the results best first', async () => {
    await s.api('POST', '/api/v1/memories', { body: { content: 'Ada prefers green tea in the morning', user_id: 'ada' } });
    await s.api('POST', '/api/v1/memories', { body: { content: 'The build server is in Frankfurt', user_id: 'ada' } });
    const r = await agentmem(['memories', 'search', 'green tea', '--user', 'ada', '--top-k', '1', ...conn]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d\.\d{3} {2}Ada prefers green tea in the morning {2}\([0-9a-f-]{36}\)\n$/);
  });

  test('errors: the server\'s {error: {code, message}} as "error: code: message", exit code 1', async () => {
    const missing = await agentmem(['chat', '00000000-0000-4000-8000-000000000000', '-m', 'hi', ...conn]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: not_found: Agent not found\.\n$/m);
    const badKey = await agentmem(['agents', 'list', '--url', s.url, '--key', 'am_nope']);
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /^error: unauthorized: /m);
    const invalid = await agentmem(['agents', 'create', '--name', 'x', '--provider', 'nope', ...conn]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^error: validation_error: .*provider/m);
    const down = await agentmem(['agents', 'list', '--url', 'http://127.0.0.1:9', '--key', 'k']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: connection_failed: cannot reach http:\/\/127\.0\.0\.1:9/m);
    const help = await agentmem(['memories', 'search', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--top-k <n>/);
  });
});
