// Webhooks through a kill -9: the real CLI as a child process, killed with SIGKILL while a
// delivery is in flight; after the restart every pending event arrives, verified with the
// standardwebhooks package, the interrupted ones under their first webhook-id (at least
// once, deduplicable by id). PostgreSQL and the embedded PGlite files.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { apiClient, createTestDatabase, engines, spawnServe } from './harness.ts';
import { events, startReceiver } from './webhook-receiver.ts';

for (const engine of engines) {
  describe(`webhooks survive a kill -9 mid-delivery, ${engine}`, () => {
    test('after the restart every pending event arrives, the interrupted one under its first webhook-id', async () => {
      const key = 'am_webhook_crash_key_0123456789abcdef';
      const database = await createTestDatabase(engine);
      const dataDir = mkdtempSync(join(tmpdir(), 'agentmem-webhook-crash-'));
      const rx = await startReceiver();
      const env = {
        AGENTMEM_BOOTSTRAP_KEY: key,
        AGENTMEM_DATA_DIR: dataDir,
        DATABASE_URL: engine === 'postgres' ? database.url : undefined,
        AGENTMEM_WEBHOOK_TIMEOUT_MS: '1000',
        AGENTMEM_WEBHOOK_POLL_MS: '50',
        AGENTMEM_WEBHOOK_BACKOFF_MS: '100',
      };
      let child: ChildProcess | undefined;
      try {
        const first = await spawnServe(env);
        child = first.child;
        const api = apiClient(first.url, key);
        rx.hold('/crash');
        const ep = (await api('POST', '/api/v1/webhooks', { body: { url: `${rx.url}/crash`, events: ['memory.created'] } })).body;
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await api('POST', '/api/v1/memories', { body: { content: `m${i}` } })).body.id);
        await rx.until(() => events(rx, '/crash').length >= 1, 'the first delivery in flight');
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGKILL');
        await exited;
        const interrupted = events(rx, '/crash').map((e) => e.headers['webhook-id']);
        rx.release();
        rx.on('/crash', (_r, res) => res.writeHead(200).end());

        const second = await spawnServe(env);
        child = second.child;
        // The interrupted ones come again only when their lease (2 × timeout + 1 s) runs out,
        // after the three never tried: wait for both, not for five distinct events alone.
        const sentTwice = (id: string | undefined) => events(rx, '/crash').filter((e) => e.headers['webhook-id'] === id).length >= 2;
        await rx.until(
          () => new Set(events(rx, '/crash').map((e) => e.payload.data.id)).size === 5 && interrupted.every(sentTwice),
          'all five after the restart, the interrupted ones again',
        );
        const all = events(rx, '/crash');
        for (const e of all) new Webhook(ep.secret).verify(e.body, e.headers);
        assert.deepEqual(new Set(all.map((e) => e.payload.data.id)), new Set(ids));
        for (const id of interrupted) assert.ok(sentTwice(id), `${id} sent again under the same id`);
        // one webhook-id per event: a receiver deduplicating by id sees each event once
        assert.equal(new Set(all.map((e) => e.headers['webhook-id'])).size, 5);
        const listed = (await apiClient(second.url, key)('GET', `/api/v1/webhooks/${ep.id}/deliveries`)).body.data;
        assert.equal(listed.length, 5);
      } finally {
        child?.kill('SIGKILL');
        await rx.close();
        await database.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
