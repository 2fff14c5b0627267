// Token counts: exact o200k for ordinary text (up to a 512-character chunk), long letter runs counted in slices.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { countBounded } from './token-count.ts';

test('token count: ordinary text exactly as o200k counts it; a run of 128+ letters in 64-letter slices, a token per cut', () => {
  for (const text of ['hello world, this is a sentence. '.repeat(15), `${'x'.repeat(127)} ${'y'.repeat(127)}`, 'naïve café résumé 2026-12-05 '.repeat(10)]) {
    assert.deepEqual(countBounded(text), { tokens: countTokens(text), exact: true }, text.slice(0, 40));
  }
  const sliced = (run: string) =>
    Array.from({ length: Math.ceil(run.length / 64) }, (_, i) => countTokens(run.slice(i * 64, i * 64 + 64)) + 1).reduce((a, b) => a + b, 0);
  const run = 'a'.repeat(300);
  assert.equal(countBounded(run).tokens, sliced(run));
  const cjk = '这是一个很长的中文句子没有空格'.repeat(20); // no ASCII separator at all
  assert.equal(countBounded(cjk).tokens, sliced(cjk));
  const marked = 'abc\u0301'.repeat(40); // letters with combining marks: one run
  assert.equal(countBounded(`go ${marked}!`).tokens, countTokens('go ') + sliced(marked) + countTokens('!'));
});
