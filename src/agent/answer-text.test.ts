import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAnswerText } from './answer-text.ts';

const deltas = (n: number) => Array.from({ length: n }, (_, i) => `${i} 😀 ${'x'.repeat(i % 29)}|`);

test('the text is the deltas in order, across chunk boundaries', () => {
  const a = createAnswerText();
  const all = deltas(5_000);
  for (const d of all) a.add(d);
  assert.equal(a.length, all.join('').length);
  assert.equal(String(a), all.join(''));
  a.add('end');
  assert.equal(a.toString(), `${all.join('')}end`);
});

test('take() returns what came since the last take, taken() all of it so far', () => {
  const a = createAnswerText();
  const all = deltas(3_000);
  let said = '';
  let parts = '';
  for (const [i, d] of all.entries()) {
    a.add(d);
    said += d;
    if (i % 97 === 0 || i % 1_000 === 999) {
      parts += a.take();
      assert.equal(parts, said);
      assert.equal(a.taken(), said);
    }
  }
  assert.equal(parts + a.take(), all.join(''));
  assert.equal(a.take(), '', 'nothing new');
  a.add('more');
  assert.equal(a.taken(), all.join(''), 'taken() stops at the last take');
  assert.equal(a.take(), 'more');
});
