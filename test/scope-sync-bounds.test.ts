// What memory-sync.ts keeps while deltas wait is bounded, driven past its bounds on the real
// store: deltas heard ahead of a gap (64 a scope; beyond, dropped: the scope is read again on
// its next check), gone when the gap closes or the scope's version is forgotten; and this
// instance's own writes in flight, gone once applied or OWN_WRITE_WAIT_MS after the newest began
// (a write that rolled back never announces itself).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createMemoryIndex } from '../src/memory/memory-index.ts';
import { createMemorySync, OWN_WRITE_WAIT_MS } from '../src/memory/memory-sync.ts';
import { scopeKey } from '../src/memory/predictive.ts';
import type { Db } from '../src/store/db.ts';
import { alwaysTrusted } from '../src/store/invalidation.ts';
import { openStore } from '../src/store/open.ts';
import { createTestDatabase } from './harness.ts';

const MAX_AHEAD = 64;

describe('memory sync bounds', () => {
  let db: Db;
  let drop = async () => {};
  let dir: string;
  let orgId: string;
  before(async () => {
    const database = await createTestDatabase('pglite');
    drop = database.drop;
    dir = mkdtempSync(join(tmpdir(), 'agentmem-sync-bounds-'));
    db = await openStore(database.url, dir);
    orgId = (await db.query<{ id: string }>(`insert into organizations (id, name) values (gen_random_uuid(), 'b') returning id`))[0]!.id;
  });
  after(async () => {
    await db?.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const syncWithIndex = (maxScopes: number) => {
    const sync = createMemorySync({ db, guard: alwaysTrusted, check: 'always', maxScopes });
    const index = createMemoryIndex(db, { maxBytes: 1 << 20, beforeLoad: sync.beforeLoad });
    sync.attach(index);
    return sync;
  };
  /** A delta from another instance naming a memory that is not there (the index removes it). */
  const delta = (from: number) => ({ from, to: from + 1, ids: [randomUUID()] });
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 400 && !ok(); i++) await sleep(5);
    assert.ok(ok());
  };

  test('deltas past a gap: 64 a scope kept, the rest dropped; all gone when the gap closes or the scope is forgotten', async () => {
    const sync = syncWithIndex(4);
    const leaf = { agentId: null, userId: 'gap' };
    await sync.beforeLoad(orgId, leaf); // current to version 0 (never written)
    const key = scopeKey(orgId, leaf.agentId, leaf.userId);
    // version 0 → 1 is not heard; 1 → 2 … 150 → 151 are
    for (let v = 1; v <= 150; v++) sync.remote(key, delta(v));
    await until(() => sync.stats().applied === 150);
    assert.equal(sync.stats().ahead, MAX_AHEAD);
    // the gap closes: what was kept is taken up, nothing is left waiting
    sync.remote(key, delta(0));
    await until(() => sync.stats().applied === 151);
    assert.equal(sync.stats().ahead, 0);

    // a scope whose version is forgotten (more scopes than the LRU keeps) drops what it kept
    const other = { agentId: null, userId: 'forgotten' };
    await sync.beforeLoad(orgId, other);
    const otherKey = scopeKey(orgId, other.agentId, other.userId);
    for (let v = 1; v <= 10; v++) sync.remote(otherKey, delta(v));
    await until(() => sync.stats().applied === 161);
    assert.equal(sync.stats().ahead, 10);
    for (let i = 0; i < 4; i++) await sync.beforeLoad(orgId, { agentId: null, userId: `more-${i}` });
    assert.equal(sync.stats().scopes, 4);
    assert.equal(sync.stats().ahead, 0);
  });

  test('own writes in flight: gone once applied, or after the wait when one never announces (rolled back)', async () => {
    const sync = syncWithIndex(1_000);
    for (let i = 0; i < 200; i++) {
      await sync.beforeLoad(orgId, { agentId: null, userId: `w${i}` });
      sync.writing(orgId, null, `w${i}`, 1);
    }
    assert.equal(sync.stats().ownWrites, 200);
    // half commit and announce themselves; the other half never do
    for (let i = 0; i < 100; i++) sync.local(orgId, null, `w${i}`, { from: 0, to: 1, ids: [randomUUID()] });
    await until(() => sync.stats().ownWrites === 100);
    await sleep(OWN_WRITE_WAIT_MS + 100);
    assert.equal(sync.stats().ownWrites, 0);
  });
});
