// How much one request may bring, by the kind of key: an end user's scoped key gets what fits
// one user (a conversation, a handful of memories), admin and member keys what an import needs.
// A route names its limits in its config (`inputLimits`); the body's bytes are counted as they
// arrive (one preParsing hook, after auth), so a scoped key's 64 MB is refused before any of it
// is parsed. docs/security.md#limits has the table.
import { Transform, type TransformCallback } from 'node:stream';
import type { preParsingAsyncHookHandler } from 'fastify';
import { isScoped, type Principal } from './auth.ts';
import { AppError } from './errors.ts';

/** The most one request may hold: its body in bytes, and the items of its list. */
export interface InputLimit {
  bytes: number;
  items: number;
}

/** `scoped`: an end user's key; `member`: admin and member keys. */
export interface RoleLimits {
  scoped: InputLimit;
  member: InputLimit;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the body and item limits by kind of key (the route's bodyLimit is the largest) */
    inputLimits?: RoleLimits;
  }
}

const MiB = 1024 * 1024;

/** POST /api/v1/sessions/import: messages of one conversation. */
export const importLimits: RoleLimits = {
  scoped: { bytes: 1 * MiB, items: 1_000 },
  member: { bytes: 16 * MiB, items: 10_000 },
};

/** POST /api/v1/memories/batch: memories in one request. */
export const batchLimits: RoleLimits = {
  scoped: { bytes: 256 * 1024, items: 100 },
  member: { bytes: 16 * MiB, items: 10_000 },
};

const limitOf = (limits: RoleLimits, p: Principal | undefined) => (p && !isScoped(p) ? limits.member : limits.scoped);
const keyKind = (p: Principal | undefined) => (p && !isScoped(p) ? 'an admin or member key' : 'a scoped key');

const tooLarge = (bytes: number, p: Principal | undefined) =>
  new AppError('payload_too_large', `The body is larger than ${bytes} bytes, the limit of this route for ${keyKind(p)}.`);

/** Counts a body's bytes as they pass; past the limit, the stream fails with a 413. */
class ByteLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly error: () => Error,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    this.seen += chunk.length;
    if (this.seen > this.limit) done(this.error());
    else done(null, chunk);
  }
}

/** The preParsing hook: a route with `inputLimits` gets the caller's byte limit (a 413 past it). */
export const inputLimitHook: preParsingAsyncHookHandler = async (req, _reply, payload) => {
  const limits = req.routeOptions.config?.inputLimits;
  if (!limits) return payload;
  const { bytes } = limitOf(limits, req.principal);
  if (bytes >= limits.member.bytes) return payload; // Fastify's own bodyLimit (the route's) applies
  const declared = Number(req.headers['content-length']);
  if (declared > bytes) throw tooLarge(bytes, req.principal);
  const counted = new ByteLimit(bytes, () => tooLarge(bytes, req.principal));
  payload.on('error', (err) => counted.destroy(err));
  return payload.pipe(counted);
};

/** A 413 when the request's list is longer than the caller's kind of key may send. */
export function checkItems(p: Principal, limits: RoleLimits, count: number, what: string): void {
  const { items } = limitOf(limits, p);
  if (count > items) throw new AppError('payload_too_large', `At most ${items} ${what} per request for ${keyKind(p)} (this one has ${count}).`);
}
