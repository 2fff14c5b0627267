// Memory scope versions (migration 014) and the rows a change names: what an instance needs
// to apply another instance's write to its lexical index without reading the scope again.
import type { Queryable } from '../db.ts';
import type { MemoryDoc } from './memories.ts';
import { leafKey as versionKey } from '../../keys.ts';

export interface ScopeRef {
  agentId: string | null;
  userId: string | null;
}

/** The versions a write moved its scopes to; call inside the write's transaction. */
export async function bumpScopeVersions(db: Queryable, orgId: string, scopes: ScopeRef[]): Promise<Map<string, number>> {
  const keys = new Map(scopes.map((s) => [versionKey(s.agentId, s.userId), s]));
  if (!keys.size) return new Map();
  const agents = [...keys.values()].map((s) => s.agentId ?? '');
  const users = [...keys.values()].map((s) => s.userId ?? '');
  const rows = await db.query<{ agent_key: string; user_key: string; version: string | number }>(
    `insert into scope_versions (org_id, agent_key, user_key, version)
       select $1::uuid, a, u, 1 from unnest($2::text[], $3::text[]) as k(a, u)
     on conflict (org_id, agent_key, user_key) do update set version = scope_versions.version + 1
     returning agent_key, user_key, version`,
    [orgId, agents, users],
  );
  return new Map(rows.map((r) => [versionKey(r.agent_key || null, r.user_key || null), Number(r.version)]));
}

/** Every scope of the user (each agent's), bumped: "forget me". */
export async function bumpUserScopes(db: Queryable, orgId: string, userId: string): Promise<Array<{ agentId: string | null; version: number }>> {
  const rows = await db.query<{ agent_key: string; version: string | number }>(
    'update scope_versions set version = version + 1 where org_id = $1 and user_key = $2 returning agent_key, version',
    [orgId, userId],
  );
  return rows.map((r) => ({ agentId: r.agent_key || null, version: Number(r.version) }));
}

/** The scope's version (0: never written since migration 014). */
export async function scopeVersion(db: Queryable, orgId: string, agentId: string | null, userId: string | null): Promise<number> {
  const rows = await db.query<{ version: string | number }>('select version from scope_versions where org_id = $1 and agent_key = $2 and user_key = $3', [
    orgId,
    agentId ?? '',
    userId ?? '',
  ]);
  return rows.length ? Number(rows[0]!.version) : 0;
}

/** The named memories as they are now (an id missing from the answer was deleted). */
export const memoryDocsByIds = (db: Queryable, orgId: string, ids: string[]) =>
  db.query<MemoryDoc>('select id, agent_id, user_id, content, metadata, created_at, updated_at from memories where org_id = $1 and id = any($2::uuid[])', [
    orgId,
    ids,
  ]);

/** A scope's key in the versions a write moved: keys.ts leafKey. */
export { versionKey };

/** The versions of several scopes in one statement (0 for a scope never written), in the order asked. */
export async function scopeVersions(db: Queryable, scopes: Array<{ orgId: string; agentId: string | null; userId: string | null }>): Promise<number[]> {
  const rows = await db.query<{ i: number; version: string | number | null }>(
    `select k.i, v.version from unnest($1::uuid[], $2::text[], $3::text[]) with ordinality as k(o, a, u, i)
       left join scope_versions v on v.org_id = k.o and v.agent_key = k.a and v.user_key = k.u`,
    [scopes.map((s) => s.orgId), scopes.map((s) => s.agentId ?? ''), scopes.map((s) => s.userId ?? '')],
  );
  const out = new Array<number>(scopes.length).fill(0);
  for (const r of rows) out[Number(r.i) - 1] = r.version === null ? 0 : Number(r.version);
  return out;
}
