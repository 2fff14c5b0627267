// scripts/long-functions.ts: what counts as a function's own lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { longFunctionsIn } from '../scripts/long-functions.ts';

const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');

test("a nested function's inner lines are its own, not its holder's; blank and comment lines do not count", () => {
  const source = ['export function outer() {', body(5), '', '  // a comment', '  const inner = () => {', body(10), '  };', '  return inner;', '}'].join('\n');
  // outer: its line, 5 statements, `const inner = () => {`, `};`, return, `}` = 10
  assert.deepEqual(
    longFunctionsIn('x.ts', source, 9).map((f) => [f.name, f.ownLines]),
    [
      ['outer', 10],
      ['inner', 12],
    ],
  );
  assert.deepEqual(
    longFunctionsIn('x.ts', source, 10).map((f) => f.name),
    ['inner'],
  );
});
