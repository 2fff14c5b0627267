// PostgreSQL writes with parameters run as named (prepared) statements, parsed and planned
// once per connection (store/postgres/index.ts); a table changed under one by another process
// (a newer instance's migration during a rolling deploy) does not break it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { openStore } from '../src/store/open.ts';
import { createTestDatabase, engines } from './harness.ts';

describe('named statements on PostgreSQL', { skip: !engines.includes('postgres') && 'needs PostgreSQL' }, () => {
  test('a hot write is prepared once per connection, and survives a column added under it', async () => {
    const database = await createTestDatabase('postgres');
    const dir = mkdtempSync(join(tmpdir(), 'agentmem-pgstmt-'));
    // one connection, so every query below meets what the ones before it prepared
    const db = await openStore(database.url, dir, { max: 1, min: 0 });
    const other = new pg.Client({ connectionString: database.url });
    try {
      const org = randomUUID();
      const sessionsOf = () => db.query('update sessions set title = title where org_id = $1 returning *', [org]);
      assert.deepEqual(await sessionsOf(), []);
      const prepared = await db.query<{ statement: string }>('select statement from pg_prepared_statements where $1::int = 1', [1]);
      assert.ok(
        prepared.some((p) => p.statement === 'update sessions set title = title where org_id = $1 returning *'),
        `prepared: ${JSON.stringify(prepared)}`,
      );
      await other.connect();
      await other.query('alter table sessions add column added_by_a_newer_instance int');
      assert.deepEqual(await sessionsOf(), [], 'the same statement after the change');
      assert.deepEqual(await sessionsOf(), [], 'and again');
    } finally {
      await other.end().catch(() => {});
      await db.close();
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
