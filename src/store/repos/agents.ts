import { randomUUID } from 'node:crypto';
import { one, type Queryable } from '../db.ts';

/** An agent row as stored: config without secrets, secrets sealed apart. */
export interface AgentRow {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  config: Record<string, unknown>;
  secrets: string | null;
  metadata: Record<string, unknown>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export interface AgentWrite {
  name: string;
  description: string | null;
  config: object;
  secrets: string | null;
  metadata: object;
}

export const insertAgent = (db: Queryable, orgId: string, a: AgentWrite) =>
  one<AgentRow>(
    db,
    `insert into agents (id, org_id, name, description, config, secrets, metadata)
     values ($1, $2, $3, $4, $5, $6, $7) returning *`,
    [randomUUID(), orgId, a.name, a.description, JSON.stringify(a.config), a.secrets, JSON.stringify(a.metadata)],
  ) as Promise<AgentRow>;

export const getAgent = (db: Queryable, orgId: string, id: string) => one<AgentRow>(db, 'select * from agents where org_id = $1 and id = $2', [orgId, id]);

/** The org's agents, oldest first; `ids`: only these. */
export const listAgents = (db: Queryable, orgId: string, limit: number, offset: number, ids?: string[]) =>
  db.query<AgentRow>('select * from agents where org_id = $1 and ($4::uuid[] is null or id = any($4::uuid[])) order by created_at, id limit $2 offset $3', [
    orgId,
    limit,
    offset,
    ids ?? null,
  ]);

export const updateAgent = (db: Queryable, orgId: string, id: string, a: AgentWrite) =>
  one<AgentRow>(
    db,
    `update agents set name = $3, description = $4, config = $5, secrets = $6, metadata = $7,
       version = version + 1, updated_at = now()
     where org_id = $1 and id = $2 returning *`,
    [orgId, id, a.name, a.description, JSON.stringify(a.config), a.secrets, JSON.stringify(a.metadata)],
  );

export const deleteAgent = async (db: Queryable, orgId: string, id: string) =>
  (await db.query('delete from agents where org_id = $1 and id = $2 returning id', [orgId, id])).length > 0;

/** Every distinct llm section in use, across organizations (to warm upstream connections at start). */
export const listLlmConfigs = async (db: Queryable) => (await db.query<{ llm: unknown }>(`select distinct config->'llm' as llm from agents`)).map((r) => r.llm);
