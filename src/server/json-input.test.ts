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

test('parseJsonBody: strict UTF-8, empty means no body only where the route takes none', async () => {
  const { parseJsonBody } = await import('./json-input.ts');
  const parse = (t: string) => JSON.parse(t);
  assert.deepEqual(parseJsonBody(Buffer.from('{"a":"é😀"}'), parse), { a: 'é😀' });
  assert.equal(parseJsonBody(Buffer.alloc(0), parse, false), undefined);
  assert.equal(parseJsonBody(Buffer.from(' \r\n'), parse, false), undefined);
  assert.throws(
    () => parseJsonBody(Buffer.alloc(0), parse, true),
    (e: unknown) => (e as { code?: string }).code === 'FST_ERR_CTP_EMPTY_JSON_BODY',
  );
  for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
    const raw = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bad), Buffer.from('"}')]);
    assert.throws(() => parseJsonBody(raw, parse), /not valid UTF-8/, Buffer.from(bad).toString('hex'));
  }
  assert.throws(() => parseJsonBody(Buffer.from('{"a":"\\u0000"}'), parse), /NUL/);
});
