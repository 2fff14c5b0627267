// Zhipu's auth: `Authorization: Bearer <token>` where the token is either an API key
// `id.secret` verbatim, or an HS256 JWT signed with the secret: header
// {alg: "HS256", sign_type: "SIGN"}, payload {api_key: id, exp, timestamp} with exp and
// timestamp in MILLISECONDS.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type ZhipuAuth = { ok: true; jwtValid?: boolean } | { ok: false; reason: 'missing' | 'invalid' | 'expired'; jwtValid?: boolean };

/** `keys` undefined = accept any bearer (a JWT is then checked for shape and expiry only). */
export function checkZhipuAuth(authorization: string | undefined, keys: string[] | undefined, now = Date.now()): ZhipuAuth {
  const token = bearer(authorization);
  if (!token) return { ok: false, reason: 'missing' };
  const parts = token.split('.');
  if (parts.length !== 3) {
    return !keys || keys.includes(token) ? { ok: true } : { ok: false, reason: 'invalid' };
  }
  const verdict = verifyJwt(parts as [string, string, string], keys, now);
  if (verdict === 'ok') return { ok: true, jwtValid: true };
  if (!keys) return { ok: true, jwtValid: false };
  return { ok: false, reason: verdict, jwtValid: false };
}

function verifyJwt([h, p, sig]: [string, string, string], keys: string[] | undefined, now: number): 'ok' | 'invalid' | 'expired' {
  const header = decode(h);
  const payload = decode(p);
  if (header?.alg !== 'HS256' || header?.sign_type !== 'SIGN' || typeof payload?.api_key !== 'string') return 'invalid';
  if (keys) {
    const key = keys.find((k) => k.slice(0, k.indexOf('.')) === payload.api_key);
    if (!key) return 'invalid';
    const expected = createHmac('sha256', key.slice(key.indexOf('.') + 1))
      .update(`${h}.${p}`)
      .digest();
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  }
  if (typeof payload.exp !== 'number' || payload.exp <= now) return 'expired';
  return 'ok';
}

/** The key id a Zhipu JWT was made for (its `api_key` claim); undefined for anything else. */
export function zhipuKeyId(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const id = decode(parts[1]!)?.api_key;
  return typeof id === 'string' ? id : undefined;
}

export function bearer(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S.*)$/i.exec(authorization ?? '');
  return m?.[1]?.trim() || undefined;
}

function decode(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}
