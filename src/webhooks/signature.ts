// Standard Webhooks signing (https://www.standardwebhooks.com): the secret is "whsec_" +
// base64 of 24 random bytes; each attempt is signed as
// v1,base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")), the timestamp in
// seconds. The sealed form binds the secret to the origin it was issued for.
import { createHmac, randomBytes } from 'node:crypto';
import type { SecretBox } from '../store/secret-box.ts';

const PREFIX = 'whsec_';

export const newSecret = () => PREFIX + randomBytes(24).toString('base64');

export function signatureHeaders(secret: string, id: string, body: string, at = new Date()): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${mac}` };
}

/** The secret sealed together with its origin: it opens only for that origin. */
export const sealSecret = (box: SecretBox, url: string, secret: string) => box.seal(`${new URL(url).origin}\n${secret}`);

/** The secret for `url`, or undefined when it was issued for another origin (never sent there). */
export function openSecret(box: SecretBox, sealed: string, url: string): string | undefined {
  const plain = box.open(sealed);
  const cut = plain.indexOf('\n');
  return plain.slice(0, cut) === new URL(url).origin ? plain.slice(cut + 1) : undefined;
}
