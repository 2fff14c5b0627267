// API keys: only a SHA-256 hash is stored (keys are 256-bit random, so a fast hash is
// safe); the key itself is returned once, at creation.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { one, type Queryable } from '../db.ts';

export type Role = 'admin' | 'member';

export interface ApiKey {
  id: string;
  org_id: string;
  name: string;
  role: Role;
  platform_admin: boolean;
  prefix: string;
  /** a scoped key: only these agents (null: any) */
  agent_ids: string[] | null;
  /** a scoped key: only as this end user (null: any) */
  user_id: string | null;
  expires_at: Date | null;
  created_at: Date;
  revoked_at: Date | null;
}

/** What restricts a key beyond its role. */
export interface KeyScope {
  agent_ids?: string[] | null;
  user_id?: string | null;
  expires_at?: Date | null;
}

const columns = 'id, org_id, name, role, platform_admin, prefix, agent_ids, user_id, expires_at, created_at, revoked_at';

export const hashKey = (key: string) => createHash('sha256').update(key).digest('base64url');
export const generateKey = () => 'am_' + randomBytes(32).toString('base64url');

export async function createApiKey(
  db: Queryable,
  input: { org_id: string; name: string; role: Role; platform_admin?: boolean; key?: string } & KeyScope,
): Promise<{ apiKey: ApiKey; key: string }> {
  const key = input.key ?? generateKey();
  const apiKey = (await one<ApiKey>(
    db,
    `insert into api_keys (id, org_id, name, role, platform_admin, key_hash, prefix, agent_ids, user_id, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8::uuid[], $9, $10) returning ${columns}`,
    [
      randomUUID(),
      input.org_id,
      input.name,
      input.role,
      input.platform_admin ?? false,
      hashKey(key),
      key.slice(0, 7),
      input.agent_ids ?? null,
      input.user_id ?? null,
      input.expires_at ?? null,
    ],
  ))!;
  return { apiKey, key };
}

export const findActiveKeyByHash = (db: Queryable, hash: string) =>
  one<ApiKey>(db, `select ${columns} from api_keys where key_hash = $1 and revoked_at is null`, [hash]);

export const listApiKeys = (db: Queryable, orgId: string, limit: number, offset: number) =>
  db.query<ApiKey>(`select ${columns} from api_keys where org_id = $1 order by created_at, id limit $2 offset $3`, [orgId, limit, offset]);

export const getApiKey = (db: Queryable, orgId: string, id: string) =>
  one<ApiKey>(db, `select ${columns} from api_keys where org_id = $1 and id = $2`, [orgId, id]);

/** Returns the revoked key's hash so the auth cache can drop it. */
export const revokeApiKey = (db: Queryable, orgId: string, id: string) =>
  one<{ key_hash: string }>(db, 'update api_keys set revoked_at = coalesce(revoked_at, now()) where org_id = $1 and id = $2 returning key_hash', [orgId, id]);

export const countKeys = async (db: Queryable) => (await one<{ n: number }>(db, 'select count(*)::int as n from api_keys'))!.n;
