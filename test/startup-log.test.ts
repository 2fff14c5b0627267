// What the start logs reaches the log: the logger exists before anything else (start/logger.ts),
// so the crash-recovery sweep that runs before the HTTP server is built is heard, and a key in
// a header is never written.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startAgentmem } from '../src/app.ts';
import { configFromEnv, type AppConfig } from '../src/config.ts';
import { createLogger } from '../src/start/logger.ts';
import { apiClient, createTestDatabase, engines } from './harness.ts';

/** A logger whose lines are kept, parsed. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const text: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void (text.push(line), lines.push(JSON.parse(line))) });
  return { logger, lines, text };
}

for (const engine of engines) {
  describe(`the start's log, ${engine}`, () => {
    test('the crash-recovery sweep is logged; authorization headers are redacted', async () => {
      const database = await createTestDatabase(engine);
      const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-startlog-'));
      const key = 'am_startlog_0123456789abcdef0123456789';
      const config: AppConfig = {
        ...configFromEnv({}),
        port: 0,
        host: '127.0.0.1',
        dataDir,
        bootstrapKey: key,
        logLevel: 'silent',
        // PGlite: files in the data dir, kept across the restart (not memory://)
        databaseUrl: engine === 'postgres' ? database.url : undefined,
      };
      try {
        // A turn, then its answer put back as a crash leaves it: streaming, its owner silent for an hour.
        const first = await startAgentmem(config);
        const api = apiClient(first.url, key);
        const agent = (await api('POST', '/api/v1/agents', { body: { name: 'swept' } })).body;
        const chat = await api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: 'hello', user_id: 'kim' } });
        assert.equal(chat.status, 200);
        await first.db.query(`update messages set status = 'streaming', heartbeat_at = now() - interval '1 hour' where role = 'assistant'`);
        await first.close();

        const { logger, lines, text } = capturedLogger();
        const second = await startAgentmem(config, { logger });
        try {
          const swept = lines.find((l) => l.msg === 'answers of a stopped instance marked incomplete');
          assert.ok(swept, `the sweep was logged; got: ${lines.map((l) => l.msg).join(' | ')}`);
          assert.equal(swept.count, 1);
          assert.ok(
            lines.findIndex((l) => l.msg === 'answers of a stopped instance marked incomplete') < lines.findIndex((l) => l.msg === 'caches ready'),
            'logged during the start, before the server',
          );
          // Fastify logs through the same logger, and keys in headers never reach a line.
          second.server.log.warn({ headers: { authorization: `Bearer ${key}`, 'x-api-key': 'sk-ant-secret' } }, 'a request that carried a key');
          second.server.log.warn({ req: { headers: { authorization: `Bearer ${key}` } } }, 'a raw request');
          const joined = text.join('');
          assert.match(joined, /a request that carried a key/);
          assert.ok(!joined.includes(key) && !joined.includes('sk-ant-secret'), 'no key in the log');
        } finally {
          await second.close();
        }
      } finally {
        await database.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
