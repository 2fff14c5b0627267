import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { createTokenSource } from './jwt.ts';

test('signs an HS256 token Zhipu accepts: sign_type SIGN, api_key = id, ms timestamps', async () => {
  const now = 1_790_000_000_000;
  const token = await createTokenSource('myid.mysecret', () => now)();
  assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', sign_type: 'SIGN' });
  // jose checks exp in seconds; Zhipu's is in milliseconds, so verify the signature with a clock far ahead.
  const { payload } = await jwtVerify(token, new TextEncoder().encode('mysecret'), { currentDate: new Date(now * 1000) });
  assert.equal(payload.api_key, 'myid');
  assert.equal(payload.timestamp, now);
  assert.ok((payload.exp as number) > now + 60_000, 'exp is milliseconds in the future');
  await assert.rejects(jwtVerify(token, new TextEncoder().encode('other'), { currentDate: new Date(now * 1000) }));
});

test('caches the token until shortly before it expires', async () => {
  let now = 1_790_000_000_000;
  const source = createTokenSource('a.b', () => now);
  const first = await source();
  now += 60_000;
  assert.equal(await source(), first);
  now += 30 * 60_000;
  assert.notEqual(await source(), first);
});

test('a key without "id.secret" form is refused at once', () => {
  assert.throws(() => createTokenSource('nodot'), /id\.secret/);
  assert.throws(() => createTokenSource('.x'), /id\.secret/);
});
