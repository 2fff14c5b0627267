import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPglite } from './index.ts';

// ~1 s of PGlite work on this machine: long enough that a blocked main thread is unmistakable.
const LONG = 'select sum(x)::int8 as s from generate_series(1, 2000000) x';

/**
 * A 5 ms timer chain on the main thread and the longest gap between two of its beats:
 * a thread stuck in synchronous work shows as one gap as long as that work.
 * (monitorEventLoopDelay misses such a stall: it samples on a timer of its own.)
 */
function heartbeat() {
  let last = performance.now();
  let maxGapMs = 0;
  let beats = 0;
  let timer = setTimeout(function beat() {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    beats++;
    timer = setTimeout(beat, 5);
  }, 5);
  return {
    async stop() {
      await sleep(20); // one more beat, after whatever blocked the loop
      clearTimeout(timer);
      return { maxGapMs, beats };
    },
  };
}

test('the main thread stays free while PGlite runs a long query', async () => {
  const db = await openPglite('memory://');
  try {
    await db.query('select 1');
    const beat = heartbeat();
    const started = performance.now();
    const { s } = (await db.query<{ s: number }>(LONG))[0]!;
    const took = performance.now() - started;
    const { maxGapMs, beats } = await beat.stop();
    assert.equal(s, 2000001000000);
    // In-process PGlite blocks the loop for the whole query: its longest gap ≈ took.
    assert.ok(took > 200, `the query took only ${took.toFixed(0)} ms: too short to tell`);
    assert.ok(maxGapMs < took / 4, `event loop blocked ${maxGapMs.toFixed(0)} ms during a ${took.toFixed(0)} ms query (${beats} beats)`);
  } finally {
    await db.close();
  }
});

test('results keep their types across the thread', async () => {
  const db = await openPglite('memory://');
  try {
    await db.exec('create extension if not exists vector');
    const [row] = await db.query<Record<string, unknown>>(
      `select 42::int8 as i8, 7::int4 as i4, 2.5::float8 as f8, 1.5::numeric as num, true as b,
              timestamptz '2026-12-01 10:00:00+00' as ts, $1::jsonb as j, array[1, 2]::int[] as ints,
              array['a', 'b'] as texts, '[1,2,3]'::vector as v, '\\x0102'::bytea as bytes, null::text as nothing`,
      [JSON.stringify({ a: [1, { b: 'c' }] })],
    );
    assert.deepEqual(row, {
      i8: 42,
      i4: 7,
      f8: 2.5,
      num: '1.5',
      b: true,
      ts: new Date('2026-12-01T10:00:00Z'),
      j: { a: [1, { b: 'c' }] },
      ints: [1, 2],
      texts: ['a', 'b'],
      v: '[1,2,3]',
      bytes: new Uint8Array([1, 2]),
      nothing: null,
    });
    assert.ok(row.ts instanceof Date);
  } finally {
    await db.close();
  }
});

test('a database error crosses with its SQLSTATE and fields', async () => {
  const db = await openPglite('memory://');
  try {
    await db.exec('create table t (id int primary key)');
    await db.query('insert into t values (1)');
    await assert.rejects(db.query('insert into t values (1)'), (thrown: unknown) => {
      const err = thrown as Error & { code: string; constraint: string; table: string; detail: string };
      assert.equal(err instanceof Error, true);
      assert.equal(err.code, '23505');
      assert.equal(err.constraint, 't_pkey');
      assert.equal(err.table, 't');
      assert.match(err.message, /duplicate key value violates unique constraint "t_pkey"/);
      assert.match(err.detail, /Key \(id\)=\(1\) already exists/);
      return true;
    });
    await assert.rejects(db.query('select nope from t'), { code: '42703' });
    // a parameter that cannot cross the thread fails that query alone
    await assert.rejects(db.query('select $1::text', [() => 1]), { name: 'DataCloneError' });
    // the engine goes on after an error
    assert.deepEqual(await db.query('select count(*)::int as n from t'), [{ n: 1 }]);
  } finally {
    await db.close();
  }
});

test('a transaction keeps its connection, rolls back on throw, and other queries wait for it', async () => {
  const db = await openPglite('memory://');
  try {
    await db.exec('create table t (id int primary key)');

    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('insert into t values (1)');
        assert.deepEqual(await tx.query('select id from t'), [{ id: 1 }]);
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.deepEqual(await db.query('select id from t'), []);

    // A failing statement inside: the caller's error surfaces, nothing is kept.
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('insert into t values (2)');
        await tx.query('insert into t values (2)');
      }),
      { code: '23505' },
    );
    assert.deepEqual(await db.query('select id from t'), []);

    const order: string[] = [];
    let outside: Promise<Array<{ n: number }>> | undefined;
    const committed = db.transaction(async (tx) => {
      await tx.query('insert into t values (3)');
      outside = db.query<{ n: number }>('select count(*)::int as n from t').finally(() => order.push('outside'));
      await sleep(100); // the outside query has long reached the worker
      await tx.query('insert into t values (4)');
      return 'done';
    });
    assert.equal(await committed.finally(() => order.push('commit')), 'done');
    assert.deepEqual(await outside, [{ n: 2 }]);
    assert.deepEqual(order, ['commit', 'outside']);

    // Migrations' shape: exec of several statements inside a transaction.
    await db.transaction(async (tx) => {
      await tx.exec('create table u (x int); insert into u values (5), (6);');
    });
    assert.deepEqual(await db.query('select sum(x)::int as s from u'), [{ s: 11 }]);
  } finally {
    await db.close();
  }
});

test('close ends the worker and keeps the data dir; later queries fail clearly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentmem-pglite-'));
  try {
    const db = await openPglite(dir);
    await db.exec('create table kept (v text); insert into kept values ($$still here$$)');
    const exited = new Promise<number>((resolve) => db.worker.once('exit', resolve));
    await db.close();
    await exited;
    await assert.rejects(db.query('select 1'), /the database is closed/);
    await db.close(); // twice is fine

    const again = await openPglite(dir);
    assert.deepEqual(await again.query('select v from kept'), [{ v: 'still here' }]);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker that dies fails the queries waiting on it instead of hanging', async () => {
  const db = await openPglite('memory://');
  const running = db.query(LONG);
  const queued = db.query('select 1');
  await sleep(100);
  await db.worker.terminate();
  await assert.rejects(running, /PGlite worker stopped/);
  await assert.rejects(queued, /PGlite worker stopped/);
  await assert.rejects(db.query('select 1'), /PGlite worker stopped/);
  await db.close();
});

test('memory://?from=<dump>: a throwaway store starts as a copy of a dump, and leaves the dump as it was', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentmem-dump-'));
  const file = join(dir, 'store.tgz');
  const { openStore } = await import('../open.ts');
  const first = await openPglite('memory://');
  try {
    await first.exec(`create table notes (id int primary key, body text); insert into notes values (1, 'kept in the dump')`);
    await first.dump(file);
  } finally {
    await first.close();
  }
  try {
    for (let i = 0; i < 2; i++) {
      // through DATABASE_URL's form, as a test server opens it (the migrations run on the copy)
      const copy = await openStore(`memory://?from=${encodeURIComponent(file)}`, dir);
      try {
        assert.deepEqual(await copy.query('select id, body from notes'), [{ id: 1, body: 'kept in the dump' }], `copy ${i}`);
        await copy.exec(`insert into notes values (2, 'only in copy ${i}')`);
        assert.ok((await copy.query('select 1 from memories limit 1')) !== undefined, 'migrated');
      } finally {
        await copy.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
