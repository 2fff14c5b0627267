// `agentmem backup` / `restore`: the whole embedded store with PGlite's own dump
// (dumpDataDir / loadDataDir), the CLI run as a user runs it; then a server on the restored
// store, over HTTP. With DATABASE_URL set, backup points to pg_dump instead.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { restorePglite } from '../src/store/pglite/backup.ts';
import { ADMIN, agentmem, fill, newStore, snapshot, type Filled, type Store } from './fixtures/filled-store.ts';
import { engines } from './harness.ts';

describe('backup and restore of the embedded store', () => {
  const work = mkdtempSync(join(tmpdir(), 'agentmem-backup-'));
  let source: Store;
  let filled: Filled;
  before(async () => {
    source = await newStore('pglite', { seeded: true });
    filled = await fill(source, 'pglite');
  });
  after(async () => {
    await source?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  test('backup, then restore into a new data directory: the restored store serves the same data, keys included', async () => {
    const file = join(work, 'store.tar.gz');
    const backup = await agentmem(['backup', '-o', file], source.env);
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stderr, /wrote .*store\.tar\.gz/);
    const fresh = await newStore('pglite');
    try {
      const restored = await agentmem(['restore', file], fresh.env);
      assert.equal(restored.code, 0, restored.stderr);
      await assert.rejects(restorePglite(file, join(fresh.env.AGENTMEM_DATA_DIR!, 'pgdata')), /not empty/, 'never over an existing store');
      const { app, api } = await fresh.start(ADMIN);
      try {
        // everything came back, the org's API key (and the agent's secret) included
        assert.deepEqual(await snapshot(api(filled.org.key), filled.ids), filled.seen);
      } finally {
        await app.close();
      }
    } finally {
      await fresh.drop();
    }
  });
});

test('with DATABASE_URL, backup points to pg_dump', { skip: !engines.includes('postgres') && 'needs PostgreSQL' }, async () => {
  const r = await agentmem(['backup', '-o', '/tmp/never-written.tar.gz'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pg_dump/);
});
