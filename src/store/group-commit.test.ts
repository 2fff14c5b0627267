import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupCommit } from './group-commit.ts';

/** A store that takes `ms` per statement and records each statement's items. */
function store(fail?: (items: number[]) => boolean) {
  const statements: number[][] = [];
  const exec = async (items: number[]) => {
    statements.push(items);
    await new Promise((r) => setTimeout(r, 5));
    if (fail?.(items)) throw new Error(`bad write in ${items.join(',')}`);
    return items.map((i) => i * 10);
  };
  return { statements, one: async (i: number) => (await exec([i]))[0]!, many: exec };
}

test('group commit: the first write goes alone, the ones that wait go together, each gets its own result', async () => {
  const s = store();
  const write = groupCommit({ one: s.one, many: s.many, inflight: 1 });
  const results = await Promise.all([1, 2, 3, 4, 5].map(write));
  assert.deepEqual(results, [10, 20, 30, 40, 50]);
  assert.deepEqual(s.statements, [[1], [2, 3, 4, 5]]);
});

test('group commit: a batch respects maxBatch and canJoin (two writes of one session never share a statement)', async () => {
  const s = store();
  const write = groupCommit({ one: s.one, many: s.many, inflight: 1, maxBatch: 3, canJoin: (batch, i) => !batch.some((b) => b % 2 === i % 2 && i > 5) });
  await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(write));
  assert.deepEqual(s.statements[0], [1]);
  for (const st of s.statements) assert.ok(st.length <= 3, `at most 3 a statement: ${JSON.stringify(s.statements)}`);
  assert.deepEqual(s.statements.flat().sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(!s.statements.some((st) => st.includes(6) && st.includes(8)), 'canJoin kept 6 and 8 apart');
});

test('group commit: a failing batch is run again one write at a time, so only the bad write fails', async () => {
  const s = store((items) => items.includes(3));
  const write = groupCommit({ one: s.one, many: s.many, inflight: 1 });
  const settled = await Promise.allSettled([1, 2, 3, 4].map(write));
  assert.deepEqual(
    settled.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
  );
  assert.deepEqual(
    settled.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value),
    [10, 20, 40],
  );
});

test('group commit: one at a time (the usual single turn) never waits for a batch', async () => {
  const s = store();
  const write = groupCommit({ one: s.one, many: s.many, inflight: 2 });
  for (const i of [1, 2, 3]) assert.equal(await write(i), i * 10);
  assert.deepEqual(s.statements, [[1], [2], [3]]);
});
