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

test('token count: the first exactChars are exact however long they take; past them a spent budget bounds the rest by its bytes', () => {
  const text = 'the answer goes on and on, sentence after sentence. '.repeat(300); // ~15,600 characters
  // a budget already spent: only the first chunk is counted, the rest bounded
  const bounded = countBounded(text, -1);
  assert.equal(bounded.exact, false);
  assert.ok(bounded.tokens > countTokens(text), `${bounded.tokens} is an upper bound of ${countTokens(text)}`);
  assert.deepEqual(countBounded(text, -1, 32_768), countBounded(text, Infinity));
  const partly = countBounded(text, -1, 8_192);
  assert.equal(partly.exact, false);
  assert.ok(partly.tokens < bounded.tokens, 'more of it counted exactly');
});
