// Zhipu's signed token: an HS256 JWT from an "id.secret" key, header
// {alg: HS256, sign_type: SIGN}, payload {api_key: id, exp, timestamp} in
// MILLISECONDS (Zhipu's convention, not JWT's seconds). Cached until shortly
// before it expires, so signing is off the hot path.
import { SignJWT } from 'jose';

const TTL_MS = 30 * 60_000;
const REFRESH_BEFORE_MS = 60_000;

export function createTokenSource(apiKey: string, now: () => number = Date.now): () => Promise<string> {
  const dot = apiKey.indexOf('.');
  if (dot <= 0 || dot === apiKey.length - 1) throw new Error('a Zhipu key for JWT auth has the form "id.secret"');
  const id = apiKey.slice(0, dot);
  const secret = new TextEncoder().encode(apiKey.slice(dot + 1));
  let cached: { token: string; exp: number } | undefined;
  let signing: Promise<string> | undefined;

  return () => {
    const t = now();
    if (cached && cached.exp - REFRESH_BEFORE_MS > t) return Promise.resolve(cached.token);
    signing ??= new SignJWT({ api_key: id, exp: t + TTL_MS, timestamp: t })
      .setProtectedHeader({ alg: 'HS256', sign_type: 'SIGN' })
      .sign(secret)
      .then((token) => {
        cached = { token, exp: t + TTL_MS };
        return token;
      })
      .finally(() => {
        signing = undefined;
      });
    return signing;
  };
}
