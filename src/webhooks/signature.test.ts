// The signing a receiver checks: headers made here pass the standardwebhooks package's
// verifier (a third party's reading of the spec), and fail it with another secret, another
// body or an old timestamp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { createSecretBox } from '../store/secret-box.ts';
import { backoff } from './delivery.ts';
import { newSecret, openSecret, sealSecret, signatureHeaders } from './signature.ts';

test('signatures verify with standardwebhooks, and only for the same secret, body and a recent time', () => {
  const secret = newSecret();
  const body = JSON.stringify({ type: 'memory.created', timestamp: new Date().toISOString(), data: { id: 'x', content: 'é 🙂' } });
  const headers = signatureHeaders(secret, 'msg_1', body);
  assert.deepEqual((new Webhook(secret).verify(body, headers) as { data: { content: string } }).data.content, 'é 🙂');
  assert.throws(() => new Webhook(newSecret()).verify(body, headers));
  assert.throws(() => new Webhook(secret).verify(body + ' ', headers));
  const old = signatureHeaders(secret, 'msg_1', body, new Date(Date.now() - 3_600_000));
  assert.throws(() => new Webhook(secret).verify(body, old), /timestamp/i);
});

test('a sealed secret opens only for its origin', () => {
  const box = createSecretBox(Buffer.alloc(32, 1));
  const sealed = sealSecret(box, 'https://hooks.example.com/a', 'whsec_abc');
  assert.equal(openSecret(box, sealed, 'https://hooks.example.com/b?x=1'), 'whsec_abc');
  assert.equal(openSecret(box, sealed, 'https://evil.example.com/a'), undefined);
  assert.equal(openSecret(box, sealed, 'http://hooks.example.com/a'), undefined);
  assert.ok(!sealed.includes('whsec_abc'));
});

test('backoff doubles from the base, capped at an hour', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((a) => backoff(5_000, a)),
    [5_000, 10_000, 20_000, 40_000],
  );
  assert.equal(backoff(5_000, 30), 3_600_000);
});
