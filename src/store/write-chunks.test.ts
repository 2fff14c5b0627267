import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeChunks } from './write-chunks.ts';

test('writeChunks cuts at the row count or the byte size, keeps order, and gives an oversized item a piece of its own', () => {
  const pieces = (items: number[], rows: number, bytes: number) => [...writeChunks(items, (n) => n, { rows, bytes })];
  assert.deepEqual(pieces([1, 1, 1, 1, 1], 2, 100), [[1, 1], [1, 1], [1]]);
  assert.deepEqual(pieces([4, 4, 4, 1], 10, 8), [
    [4, 4],
    [4, 1],
  ]);
  assert.deepEqual(pieces([1, 50, 1], 10, 8), [[1], [50], [1]]);
  assert.deepEqual(pieces([], 10, 8), []);
});
