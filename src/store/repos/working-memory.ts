import { one, type Queryable } from '../db.ts';

export type WorkingScope = 'user' | 'session';

export interface WorkingMemoryRow {
  org_id: string;
  agent_id: string;
  scope: WorkingScope;
  owner: string;
  content: string;
  updated_at: Date;
}

export const getWorkingMemory = (db: Queryable, orgId: string, agentId: string, scope: WorkingScope, owner: string) =>
  one<WorkingMemoryRow>(db, 'select * from working_memory where org_id = $1 and agent_id = $2 and scope = $3 and owner = $4', [orgId, agentId, scope, owner]);

export const putWorkingMemory = (db: Queryable, orgId: string, agentId: string, scope: WorkingScope, owner: string, content: string) =>
  one<WorkingMemoryRow>(
    db,
    `insert into working_memory (org_id, agent_id, scope, owner, content) values ($1, $2, $3, $4, $5)
     on conflict (org_id, agent_id, scope, owner) do update set content = excluded.content, updated_at = now() returning *`,
    [orgId, agentId, scope, owner, content],
  ) as Promise<WorkingMemoryRow>;
