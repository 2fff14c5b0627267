import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonInputProblem, MAX_JSON_DEPTH } from './json-input.ts';

const check = (raw: string) => jsonInputProblem(JSON.parse(raw), raw);

test('ordinary JSON passes, emoji and CJK included', () => {
  assert.equal(check('{"a":[1,{"b":"你好 😀👍🏽"}],"c":null}'), undefined);
  assert.equal(check('"\\ud83d\\ude00"'), undefined, 'an escaped surrogate pair is one emoji');
  assert.equal(check('{"t":"\\\\u0000"}'), undefined, 'the text \\u0000 is not a NUL');
});

test('NUL and lone surrogates, in values and keys', () => {
  assert.match(check('{"a":"x\\u0000"}')!, /NUL/);
  assert.match(check('{"x\\u0000":1}')!, /NUL/);
  assert.match(check('["\\ud800"]')!, /lone surrogate/);
  assert.match(check('{"\\udc00":1}')!, /lone surrogate/);
  assert.match(check('"a\\ude00\\ud83d"')!, /lone surrogate/, 'a pair in the wrong order');
});

test('nesting: up to MAX_JSON_DEPTH levels', () => {
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  assert.equal(check(nest(MAX_JSON_DEPTH)), undefined);
  assert.match(check(nest(MAX_JSON_DEPTH + 1))!, /nested deeper/);
  assert.match(check('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000))!, /nested deeper/);
});
