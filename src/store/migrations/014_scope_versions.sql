-- A version per memory scope (organization, agent, user), bumped in the same transaction as
-- every write to the scope's memories. An instance that keeps the scope's lexical index
-- records the version it read and the versions it applied since (the bus carries them); a
-- search compares it with this row (one primary-key read) and reads the scope again only when
-- they differ: a change the bus lost, or made while it was down, is never served stale.
-- agent_key / user_key: the id, or '' for none (a key column cannot be null).
create table scope_versions (
  org_id uuid not null references organizations(id) on delete cascade,
  agent_key text not null,
  user_key text not null,
  version bigint not null,
  primary key (org_id, agent_key, user_key)
);
-- "forget me" bumps every agent's scope of the user
create index scope_versions_user on scope_versions (org_id, user_key);

insert into scope_versions (org_id, agent_key, user_key, version)
select distinct org_id, coalesce(agent_id::text, ''), coalesce(user_id, ''), 1 from memories;

-- memory_history is purged by age (AGENTMEM_MEMORY_HISTORY_RETENTION_DAYS, memory/retention.ts),
-- a batch per statement: found by this index.
create index memory_history_created on memory_history (created_at);
