// API key → principal, cached in-process. The cache holds only keys that exist;
// a revoked key is dropped from it at once (invalidate), never left to expire.
import { LRUCache } from 'lru-cache';
import type { Queryable } from '../store/db.ts';
import { findActiveKeyByHash, hashKey, type Role } from '../store/repos/api-keys.ts';
import { AppError } from './errors.ts';

export interface Principal {
  key_id: string;
  org_id: string;
  role: Role;
  platform_admin: boolean;
}

export function createAuth(db: Queryable) {
  const cache = new LRUCache<string, Principal>({ max: 10_000 });

  return {
    /** Resolves the `Authorization: Bearer <key>` header, or throws 401. */
    async authenticate(header: string | undefined): Promise<Principal> {
      const key = bearer(header);
      if (!key) throw new AppError('unauthorized');
      const hash = hashKey(key);
      const hit = cache.get(hash);
      if (hit) return hit;
      const row = await findActiveKeyByHash(db, hash);
      if (!row) throw new AppError('unauthorized', 'The API key is invalid or revoked.');
      const principal: Principal = { key_id: row.id, org_id: row.org_id, role: row.role, platform_admin: row.platform_admin };
      cache.set(hash, principal);
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

export function requireAdmin(p: Principal): void {
  if (p.role !== 'admin') throw new AppError('forbidden', 'This needs an admin API key.');
}
