// API key → principal, cached in-process. The cache holds only keys that exist;
// a revoked key is dropped from it at once (invalidate), never left to expire.
import { LRUCache } from 'lru-cache';
import type { Queryable } from '../store/db.ts';
import { alwaysTrusted, type CacheGuard } from '../store/invalidation.ts';
import { findActiveKeyByHash, hashKey, type Role } from '../store/repos/api-keys.ts';
import { AppError } from './errors.ts';

export interface Principal {
  key_id: string;
  org_id: string;
  role: Role;
  platform_admin: boolean;
  /** a scoped (end-user) key: only these agents; null: any */
  agent_ids: string[] | null;
  /** a scoped (end-user) key: only as this user; null: any */
  user_id: string | null;
  /** ms since the epoch; null: never */
  expires_at: number | null;
}

/** A key restricted to some agents or to one user: it may chat, and read and write that scope's memories and sessions, nothing else. */
export const isScoped = (p: Principal) => p.agent_ids !== null || p.user_id !== null;

/** `guard`: while the invalidation bus cannot be trusted, every key is looked up in the database. */
export function createAuth(db: Queryable, guard: CacheGuard = alwaysTrusted) {
  const cache = new LRUCache<string, Principal>({ max: 10_000 });

  return {
    /** Resolves the `Authorization: Bearer <key>` header, or throws 401. */
    async authenticate(header: string | undefined): Promise<Principal> {
      const key = bearer(header);
      if (!key) throw new AppError('unauthorized');
      const hash = hashKey(key);
      const trusted = guard.trusted();
      let principal = trusted ? cache.get(hash) : undefined;
      if (!principal) {
        const epoch = guard.epoch();
        const row = await findActiveKeyByHash(db, hash);
        if (!row) throw new AppError('unauthorized', 'The API key is invalid or revoked.');
        principal = {
          key_id: row.id,
          org_id: row.org_id,
          role: row.role,
          platform_admin: row.platform_admin,
          agent_ids: row.agent_ids,
          user_id: row.user_id,
          expires_at: row.expires_at ? row.expires_at.getTime() : null,
        };
        if (trusted && guard.epoch() === epoch) cache.set(hash, principal);
      }
      if (principal.expires_at !== null && principal.expires_at <= Date.now()) throw new AppError('unauthorized', 'The API key has expired.');
      return principal;
    },
    /** Drops a key hash from the cache ('*': all of them). */
    invalidate(hash: string) {
      if (hash === '*') cache.clear();
      else cache.delete(hash);
    },
  };
}

export type Auth = ReturnType<typeof createAuth>;

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
